//! chorus-node (skeleton; filled in by its issue).
