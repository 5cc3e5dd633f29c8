//! Data sets: an IDX (gzip or raw) loader and a small registry of the data sets we ship or install.
//!
//! | name | default directory | how to get it |
//! |---|---|---|
//! | `mnist` | `<workspace>/data/mnist` (bundled, CC BY-SA 3.0) | in the repository |
//! | `fashion-mnist` | `/usr/share/datasets/fashion-mnist` | `scripts/setup-fashion-mnist` (Debian `dataset-fashion-mnist`) |
//!
//! Nothing is downloaded at run time. Missing or corrupt files give an [`Error`] that names the fix.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::error::{Error, Result};

/// IDX magic of an unsigned-byte rank-3 array (images).
pub const IDX_IMAGES_MAGIC: u32 = 0x0000_0803;
/// IDX magic of an unsigned-byte rank-1 array (labels).
pub const IDX_LABELS_MAGIC: u32 = 0x0000_0801;

/// Pixel scale used when converting to `f32` (`x / 255`); shared with the PyTorch bench script.
pub const PIXEL_SCALE: f32 = 1.0 / 255.0;

/// An in-memory image classification data set (`u8` pixels, `u8` labels).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Dataset {
    /// Data set name (for reports).
    pub name: String,
    /// Image height.
    pub rows: usize,
    /// Image width.
    pub cols: usize,
    /// Number of classes (labels are `0..num_classes`).
    pub num_classes: usize,
    /// Pixels, `len() * rows * cols` bytes, sample after sample.
    pub images: Vec<u8>,
    /// One label per sample.
    pub labels: Vec<u8>,
}

impl Dataset {
    /// Builds a data set, checking that the lengths agree and that labels are in range.
    pub fn new(
        name: impl Into<String>,
        rows: usize,
        cols: usize,
        num_classes: usize,
        images: Vec<u8>,
        labels: Vec<u8>,
    ) -> Result<Self> {
        if images.len() != labels.len() * rows * cols {
            return Err(Error::InvalidArgument(format!(
                "{} image bytes for {} labels of {rows}x{cols}",
                images.len(),
                labels.len()
            )));
        }
        if let Some(bad) = labels.iter().find(|&&l| l as usize >= num_classes) {
            return Err(Error::InvalidArgument(format!(
                "label {bad} out of range 0..{num_classes}"
            )));
        }
        Ok(Self { name: name.into(), rows, cols, num_classes, images, labels })
    }
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.labels.len()
    }
    /// True when there are no samples.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
    /// Pixels per image.
    pub fn pixels(&self) -> usize {
        self.rows * self.cols
    }
    /// The pixels of sample `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        let p = self.pixels();
        &self.images[i * p..(i + 1) * p]
    }
    /// A copy holding the samples at `indices`, in that order. Indices out of range are an error.
    pub fn subset(&self, indices: &[u32]) -> Result<Dataset> {
        let p = self.pixels();
        let mut images = Vec::with_capacity(indices.len() * p);
        let mut labels = Vec::with_capacity(indices.len());
        for &i in indices {
            let i = i as usize;
            if i >= self.len() {
                return Err(Error::InvalidArgument(format!(
                    "index {i} out of range 0..{}",
                    self.len()
                )));
            }
            images.extend_from_slice(self.image(i));
            labels.push(self.labels[i]);
        }
        Ok(Dataset {
            name: self.name.clone(),
            rows: self.rows,
            cols: self.cols,
            num_classes: self.num_classes,
            images,
            labels,
        })
    }
    /// The first `n` samples (all of them if `n >= len`).
    pub fn head(&self, n: usize) -> Dataset {
        let n = n.min(self.len());
        Dataset {
            name: self.name.clone(),
            rows: self.rows,
            cols: self.cols,
            num_classes: self.num_classes,
            images: self.images[..n * self.pixels()].to_vec(),
            labels: self.labels[..n].to_vec(),
        }
    }
    /// Samples per class.
    pub fn label_histogram(&self) -> Vec<usize> {
        let mut h = vec![0; self.num_classes];
        for &l in &self.labels {
            h[l as usize] += 1;
        }
        h
    }
    /// Writes the samples at `indices` as `f32` pixels (`x / 255`) into `out` (cleared first).
    pub(crate) fn gather_f32(&self, indices: &[u32], out: &mut Vec<f32>) {
        out.clear();
        for &i in indices {
            out.extend(self.image(i as usize).iter().map(|&b| b as f32 * PIXEL_SCALE));
        }
    }
}

/// The data sets the registry knows.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum DatasetName {
    /// MNIST handwritten digits, bundled in `data/mnist`.
    Mnist,
    /// Fashion-MNIST, from the Debian package `dataset-fashion-mnist`.
    FashionMnist,
}

impl DatasetName {
    /// The registry name (`"mnist"`, `"fashion-mnist"`).
    pub fn as_str(self) -> &'static str {
        match self {
            DatasetName::Mnist => "mnist",
            DatasetName::FashionMnist => "fashion-mnist",
        }
    }
    /// Where the files are unless a directory is given.
    pub fn default_dir(self) -> PathBuf {
        match self {
            DatasetName::Mnist => workspace_data_dir().join("mnist"),
            DatasetName::FashionMnist => PathBuf::from("/usr/share/datasets/fashion-mnist"),
        }
    }
    /// How to obtain the files (used in error messages).
    pub fn fix(self) -> &'static str {
        match self {
            DatasetName::Mnist => {
                "MNIST ships with the repository in data/mnist (restore it with `git checkout -- data/mnist`)"
            }
            DatasetName::FashionMnist => "run scripts/setup-fashion-mnist",
        }
    }
    /// (train, test) sample counts of the canonical files.
    pub fn expected_counts(self) -> (usize, usize) {
        (60_000, 10_000)
    }
}

impl FromStr for DatasetName {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "mnist" => Ok(DatasetName::Mnist),
            "fashion-mnist" | "fashion_mnist" | "fmnist" => Ok(DatasetName::FashionMnist),
            other => Err(Error::UnknownDataset(other.to_string())),
        }
    }
}

impl std::fmt::Display for DatasetName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Environment variable naming the directory that holds the bundled data sets (`mnist/`, …).
pub const DATA_DIR_ENV: &str = "CHORUS_DATA_DIR";

/// The directory holding the bundled data sets, resolved at run time: `$CHORUS_DATA_DIR`, else
/// `./data` when it holds `mnist/`, else a `data/` with `mnist/` beside the running binary or up to
/// four directories above it (a `target/<profile>/chorus` of a checkout, or an installed tree),
/// else the checkout this crate was built from.
pub fn workspace_data_dir() -> PathBuf {
    resolve_data_dir(
        std::env::var_os(DATA_DIR_ENV).map(PathBuf::from),
        std::env::current_dir().ok().as_deref(),
        std::env::current_exe().ok().as_deref(),
    )
}

/// [`workspace_data_dir`] with its inputs given: the environment's choice, the working directory
/// and the running binary.
pub fn resolve_data_dir(env: Option<PathBuf>, cwd: Option<&Path>, exe: Option<&Path>) -> PathBuf {
    if let Some(dir) = env {
        return dir;
    }
    let holds_data = |d: &Path| d.join("mnist").is_dir();
    if let Some(d) = cwd.map(|c| c.join("data"))
        && holds_data(&d)
    {
        return d;
    }
    if let Some(found) = exe
        .and_then(Path::parent)
        .into_iter()
        .flat_map(Path::ancestors)
        .take(5)
        .map(|a| a.join("data"))
        .find(|d| holds_data(d))
    {
        return found;
    }
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..").join("data")
}

/// A training and a test split.
#[derive(Clone, Debug)]
pub struct Splits {
    /// Training samples.
    pub train: Dataset,
    /// Test samples.
    pub test: Dataset,
}

/// Loads a data set by registry name from `dir`, or from its default directory when `dir` is `None`.
///
/// ```no_run
/// let splits = chorus_trainer::data::load_dataset("mnist", None)?;
/// assert_eq!(splits.train.len(), 60_000);
/// # Ok::<(), chorus_trainer::Error>(())
/// ```
pub fn load_dataset(name: &str, dir: Option<&Path>) -> Result<Splits> {
    let name: DatasetName = name.parse()?;
    let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| name.default_dir());
    let fix = name.fix();
    let (n_train, n_test) = name.expected_counts();
    let train = load_idx_pair(name.as_str(), &dir, "train", fix, Some(n_train))?;
    let test = load_idx_pair(name.as_str(), &dir, "t10k", fix, Some(n_test))?;
    Ok(Splits { train, test })
}

/// Loads `<prefix>-images-idx3-ubyte[.gz]` and `<prefix>-labels-idx1-ubyte[.gz]` from `dir`.
/// `expected`, when given, is the sample count both files must have.
pub fn load_idx_pair(
    dataset: &str,
    dir: &Path,
    prefix: &str,
    fix: &str,
    expected: Option<usize>,
) -> Result<Dataset> {
    let images_path = find_file(dataset, dir, &format!("{prefix}-images-idx3-ubyte"), fix)?;
    let labels_path = find_file(dataset, dir, &format!("{prefix}-labels-idx1-ubyte"), fix)?;
    let (n, rows, cols, images) = read_idx_images(&images_path, fix)?;
    let labels = read_idx_labels(&labels_path, fix)?;
    let corrupt = |path: &Path, reason: String| Error::DatasetCorrupt {
        path: path.to_path_buf(),
        reason,
        fix: fix.to_string(),
    };
    if labels.len() != n {
        return Err(corrupt(
            &labels_path,
            format!("{} labels but {n} images in {}", labels.len(), images_path.display()),
        ));
    }
    if let Some(e) = expected
        && n != e
    {
        return Err(corrupt(&images_path, format!("wrong count: {n} samples, expected {e}")));
    }
    let num_classes = 10;
    if let Some(bad) = labels.iter().find(|&&l| l as usize >= num_classes) {
        return Err(corrupt(&labels_path, format!("label {bad} out of range 0..{num_classes}")));
    }
    Ok(Dataset { name: dataset.to_string(), rows, cols, num_classes, images, labels })
}

fn find_file(dataset: &str, dir: &Path, stem: &str, fix: &str) -> Result<PathBuf> {
    for candidate in [format!("{stem}.gz"), stem.to_string()] {
        let p = dir.join(&candidate);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(Error::DatasetMissing {
        dataset: dataset.to_string(),
        dir: dir.to_path_buf(),
        file: format!("{stem}.gz"),
        fix: fix.to_string(),
    })
}

/// Writes `data` as the uncompressed pair `<prefix>-images-idx3-ubyte` and
/// `<prefix>-labels-idx1-ubyte` in `dir` (what [`load_idx_pair`] reads back), e.g. a validator's
/// private scoring set.
pub fn write_idx_pair(data: &Dataset, dir: &Path, prefix: &str) -> Result<()> {
    let n = u32::try_from(data.len())
        .map_err(|_| Error::InvalidArgument(format!("{} samples do not fit IDX", data.len())))?;
    let dim = |d: usize| {
        u32::try_from(d).map_err(|_| Error::InvalidArgument(format!("dimension {d} too large")))
    };
    let mut images = Vec::with_capacity(16 + data.images.len());
    for word in [IDX_IMAGES_MAGIC, n, dim(data.rows)?, dim(data.cols)?] {
        images.extend_from_slice(&word.to_be_bytes());
    }
    images.extend_from_slice(&data.images);
    let mut labels = Vec::with_capacity(8 + data.labels.len());
    for word in [IDX_LABELS_MAGIC, n] {
        labels.extend_from_slice(&word.to_be_bytes());
    }
    labels.extend_from_slice(&data.labels);
    for (stem, bytes) in [("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)] {
        let path = dir.join(format!("{prefix}-{stem}"));
        std::fs::write(&path, bytes).map_err(|source| Error::Io { path, source })?;
    }
    Ok(())
}

/// Reads a whole file, gunzipping it when it starts with the gzip magic.
fn read_maybe_gz(path: &Path, fix: &str) -> Result<Vec<u8>> {
    let raw =
        std::fs::read(path).map_err(|source| Error::Io { path: path.to_path_buf(), source })?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 4);
        flate2::read::GzDecoder::new(&raw[..]).read_to_end(&mut out).map_err(|e| {
            Error::DatasetCorrupt {
                path: path.to_path_buf(),
                reason: format!("truncated or invalid gzip stream: {e}"),
                fix: fix.to_string(),
            }
        })?;
        Ok(out)
    } else {
        Ok(raw)
    }
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    b.get(at..at + 4).map(|s| u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Parses an IDX rank-3 `u8` file: returns (count, rows, cols, pixels).
pub fn read_idx_images(path: &Path, fix: &str) -> Result<(usize, usize, usize, Vec<u8>)> {
    let bytes = read_maybe_gz(path, fix)?;
    let corrupt = |reason: String| Error::DatasetCorrupt {
        path: path.to_path_buf(),
        reason,
        fix: fix.to_string(),
    };
    let magic = be_u32(&bytes, 0)
        .ok_or_else(|| corrupt("truncated: file shorter than the IDX header".into()))?;
    if magic != IDX_IMAGES_MAGIC {
        return Err(corrupt(format!(
            "bad magic {magic:#010x}, expected {IDX_IMAGES_MAGIC:#010x} (IDX u8 images)"
        )));
    }
    let (Some(n), Some(rows), Some(cols)) =
        (be_u32(&bytes, 4), be_u32(&bytes, 8), be_u32(&bytes, 12))
    else {
        return Err(corrupt("truncated: file shorter than the IDX header".into()));
    };
    let (n, rows, cols) = (n as usize, rows as usize, cols as usize);
    let want = n
        .checked_mul(rows)
        .and_then(|x| x.checked_mul(cols))
        .ok_or_else(|| corrupt("header dimensions overflow".into()))?;
    let got = bytes.len() - 16;
    if got < want {
        return Err(corrupt(format!(
            "truncated: header says {n} images of {rows}x{cols} ({want} bytes), file has {got}"
        )));
    }
    if got > want {
        return Err(corrupt(format!(
            "wrong count: {} trailing bytes after {n} images",
            got - want
        )));
    }
    let mut bytes = bytes;
    bytes.drain(..16);
    Ok((n, rows, cols, bytes))
}

/// Parses an IDX rank-1 `u8` file (labels).
pub fn read_idx_labels(path: &Path, fix: &str) -> Result<Vec<u8>> {
    let bytes = read_maybe_gz(path, fix)?;
    let corrupt = |reason: String| Error::DatasetCorrupt {
        path: path.to_path_buf(),
        reason,
        fix: fix.to_string(),
    };
    let magic = be_u32(&bytes, 0)
        .ok_or_else(|| corrupt("truncated: file shorter than the IDX header".into()))?;
    if magic != IDX_LABELS_MAGIC {
        return Err(corrupt(format!(
            "bad magic {magic:#010x}, expected {IDX_LABELS_MAGIC:#010x} (IDX u8 labels)"
        )));
    }
    let n = be_u32(&bytes, 4)
        .ok_or_else(|| corrupt("truncated: file shorter than the IDX header".into()))?
        as usize;
    let got = bytes.len() - 8;
    if got < n {
        return Err(corrupt(format!("truncated: header says {n} labels, file has {got}")));
    }
    if got > n {
        return Err(corrupt(format!("wrong count: {} trailing bytes after {n} labels", got - n)));
    }
    Ok(bytes[8..].to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_idx(dir: &Path, prefix: &str, n: u32, labels_magic: u32, truncate: usize, gz: bool) {
        let mut img = Vec::new();
        img.extend_from_slice(&IDX_IMAGES_MAGIC.to_be_bytes());
        img.extend_from_slice(&n.to_be_bytes());
        img.extend_from_slice(&2u32.to_be_bytes());
        img.extend_from_slice(&2u32.to_be_bytes());
        img.extend((0..n * 4).map(|i| i as u8));
        let mut lab = Vec::new();
        lab.extend_from_slice(&labels_magic.to_be_bytes());
        lab.extend_from_slice(&n.to_be_bytes());
        lab.extend((0..n).map(|i| (i % 10) as u8));
        img.truncate(img.len() - truncate);
        let write = |name: &str, data: &[u8]| {
            if gz {
                use std::io::Write;
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(data).unwrap();
                std::fs::write(dir.join(format!("{name}.gz")), e.finish().unwrap()).unwrap();
            } else {
                std::fs::write(dir.join(name), data).unwrap();
            }
        };
        write(&format!("{prefix}-images-idx3-ubyte"), &img);
        write(&format!("{prefix}-labels-idx1-ubyte"), &lab);
    }

    #[test]
    fn the_data_directory_is_found_at_run_time_env_first_then_cwd_then_beside_the_binary() {
        let root = tempfile::tempdir().unwrap();
        let install = root.path().join("opt/chorus");
        std::fs::create_dir_all(install.join("data/mnist")).unwrap();
        std::fs::create_dir_all(install.join("bin")).unwrap();
        let exe = install.join("bin/chorus");
        let elsewhere = root.path().join("elsewhere");
        std::fs::create_dir_all(&elsewhere).unwrap();
        // Beside (above) the binary when the working directory has none.
        assert_eq!(resolve_data_dir(None, Some(&elsewhere), Some(&exe)), install.join("data"));
        // A working directory with data/mnist wins over the binary's.
        std::fs::create_dir_all(elsewhere.join("data/mnist")).unwrap();
        assert_eq!(resolve_data_dir(None, Some(&elsewhere), Some(&exe)), elsewhere.join("data"));
        // The environment wins over both.
        let env = root.path().join("mine");
        assert_eq!(resolve_data_dir(Some(env.clone()), Some(&elsewhere), Some(&exe)), env);
        // Nothing found: the checkout this crate was built from.
        let none = resolve_data_dir(None, Some(&root.path().join("x")), None);
        assert!(none.ends_with("data"), "{}", none.display());
    }

    #[test]
    fn a_written_idx_pair_loads_back_identical() {
        let d = tempfile::tempdir().unwrap();
        write_idx(d.path(), "t", 7, IDX_LABELS_MAGIC, 0, true);
        let original = load_idx_pair("t", d.path(), "t", "", Some(7)).unwrap();
        write_idx_pair(&original, d.path(), "copy").unwrap();
        let copy = load_idx_pair("t", d.path(), "copy", "", Some(7)).unwrap();
        assert_eq!(
            (copy.rows, copy.cols, &copy.images, &copy.labels),
            (2, 2, &original.images, &original.labels)
        );
    }

    #[test]
    fn idx_pair_loads_gzip_and_raw_files() {
        for gz in [true, false] {
            let d = tempfile::tempdir().unwrap();
            write_idx(d.path(), "train", 5, IDX_LABELS_MAGIC, 0, gz);
            let ds = load_idx_pair("toy", d.path(), "train", "fix it", Some(5)).unwrap();
            assert_eq!((ds.len(), ds.rows, ds.cols), (5, 2, 2));
            assert_eq!(ds.image(1), &[4, 5, 6, 7]);
            assert_eq!(ds.labels, vec![0, 1, 2, 3, 4]);
        }
    }

    #[test]
    fn bad_magic_is_reported_with_the_fix() {
        let d = tempfile::tempdir().unwrap();
        write_idx(d.path(), "train", 5, 0xdead_beef, 0, true);
        let e =
            load_idx_pair("toy", d.path(), "train", "run the setup", None).unwrap_err().to_string();
        assert!(e.contains("bad magic 0xdeadbeef"), "{e}");
        assert!(e.contains("labels-idx1-ubyte.gz") && e.contains("run the setup"), "{e}");
    }

    #[test]
    fn truncated_image_file_is_reported() {
        for gz in [true, false] {
            let d = tempfile::tempdir().unwrap();
            write_idx(d.path(), "train", 5, IDX_LABELS_MAGIC, 3, gz);
            let e = load_idx_pair("toy", d.path(), "train", "fix", None).unwrap_err();
            assert!(
                matches!(&e, Error::DatasetCorrupt { reason, .. } if reason.starts_with("truncated")),
                "{e}"
            );
        }
    }

    #[test]
    fn truncated_gzip_stream_is_reported() {
        let d = tempfile::tempdir().unwrap();
        write_idx(d.path(), "train", 50, IDX_LABELS_MAGIC, 0, true);
        let p = d.path().join("train-images-idx3-ubyte.gz");
        let b = std::fs::read(&p).unwrap();
        std::fs::write(&p, &b[..b.len() / 2]).unwrap();
        let e = load_idx_pair("toy", d.path(), "train", "fix", None).unwrap_err().to_string();
        assert!(e.contains("truncated"), "{e}");
    }

    #[test]
    fn wrong_sample_count_is_reported() {
        let d = tempfile::tempdir().unwrap();
        write_idx(d.path(), "train", 5, IDX_LABELS_MAGIC, 0, true);
        let e =
            load_idx_pair("toy", d.path(), "train", "fix", Some(60_000)).unwrap_err().to_string();
        assert!(e.contains("wrong count: 5 samples, expected 60000"), "{e}");
    }

    #[test]
    fn missing_fashion_mnist_names_the_setup_script() {
        let d = tempfile::tempdir().unwrap();
        let e = load_dataset("fashion-mnist", Some(d.path())).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::DatasetMissing { .. }));
        assert!(
            msg.contains("fashion-mnist not found at")
                && msg.contains("scripts/setup-fashion-mnist"),
            "{msg}"
        );
    }

    #[test]
    fn unknown_dataset_name_is_rejected() {
        assert!(matches!(load_dataset("cifar", None), Err(Error::UnknownDataset(_))));
    }

    #[test]
    fn bundled_mnist_loads_with_canonical_counts() {
        let s = load_dataset("mnist", None).unwrap();
        assert_eq!((s.train.len(), s.test.len()), (60_000, 10_000));
        assert_eq!(s.train.label_histogram()[0], 5923);
        assert_eq!(s.test.label_histogram()[1], 1135);
    }
}
