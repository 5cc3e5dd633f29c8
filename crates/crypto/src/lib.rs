//! chorus-crypto (skeleton; filled in by its issue).
