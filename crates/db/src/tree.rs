//! The jmt storage adapter: a [`TreeReader`] over one redb read transaction.

use jmt::storage::{LeafNode, Node, NodeKey, TreeReader};
use jmt::{KeyHash, OwnedValue, Version};
use redb::{ReadOnlyTable, ReadTransaction};

use crate::error::Error;
use crate::tables::{self, JMT_NODES, JMT_VALUES};

/// Read access to the JMT tables through one read transaction (opened once per operation, not once
/// per node lookup).
pub(crate) struct TreeView {
    nodes: ReadOnlyTable<&'static [u8], &'static [u8]>,
    values: ReadOnlyTable<&'static [u8], &'static [u8]>,
}

impl TreeView {
    pub(crate) fn open(rtx: &ReadTransaction) -> Result<TreeView, Error> {
        Ok(TreeView { nodes: rtx.open_table(JMT_NODES)?, values: rtx.open_table(JMT_VALUES)? })
    }
}

impl TreeReader for TreeView {
    fn get_node_option(&self, node_key: &NodeKey) -> anyhow::Result<Option<Node>> {
        let mut key = Vec::with_capacity(48);
        tables::push_node_key(&mut key, node_key)?;
        match self.nodes.get(key.as_slice())? {
            Some(bytes) => Ok(Some(borsh::from_slice(bytes.value())?)),
            None => Ok(None),
        }
    }

    fn get_value_option(
        &self,
        max_version: Version,
        key_hash: KeyHash,
    ) -> anyhow::Result<Option<OwnedValue>> {
        let mut lo = Vec::with_capacity(40);
        let mut hi = Vec::with_capacity(40);
        tables::value_key(&mut lo, &key_hash.0, 0);
        tables::value_key(&mut hi, &key_hash.0, max_version);
        let mut range = self.values.range(lo.as_slice()..=hi.as_slice())?;
        match range.next_back() {
            Some(entry) => {
                let (_, v) = entry?;
                Ok(tables::decode_opt_value(v.value())?)
            }
            None => Ok(None),
        }
    }

    fn get_rightmost_leaf(&self) -> anyhow::Result<Option<(NodeKey, LeafNode)>> {
        anyhow::bail!("state-sync restore is not supported by chorus-db")
    }
}
