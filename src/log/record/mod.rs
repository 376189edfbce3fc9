//! Record batches: the v2 batch format, its records and codecs, and the validation every
//! appended batch passes.
//!
//! Owns: RecordBatch bytes and what they mean. Must not touch files (that is `segment/`).

pub mod batch;
pub mod codec;
pub mod records;
pub mod validator;
