//! chorus-chain (skeleton; filled in by its issue).
