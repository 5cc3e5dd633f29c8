//! chorus-consensus (skeleton; filled in by its issue).
