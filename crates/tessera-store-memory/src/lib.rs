//! In-memory stores: the reference implementation and a test double.
