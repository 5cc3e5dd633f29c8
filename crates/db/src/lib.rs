//! chorus-db (skeleton; filled in by its issue).
