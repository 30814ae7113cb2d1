//! The behaviour suite every store backend runs.
