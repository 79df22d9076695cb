//! stub (issue #4)
