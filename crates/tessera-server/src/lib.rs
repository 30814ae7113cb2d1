//! Tessera server library.
