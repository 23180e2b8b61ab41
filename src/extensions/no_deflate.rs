//! Stand-ins for the permessage-deflate codec when the `deflate` feature is
//! off: uninhabited types, so the connection's `Option<Deflater>` and
//! `Option<Inflater>` are always `None` and the code using them needs no `cfg`.

/// Never constructed without the `deflate` feature.
#[derive(Debug)]
pub(crate) enum Deflater {}

/// Never constructed without the `deflate` feature.
#[derive(Debug)]
pub(crate) enum Inflater {}

/// Never produced without the `deflate` feature.
#[allow(dead_code)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InflateError {
    TooLarge,
    Corrupt,
    OverBudget,
}

/// Never produced without the `deflate` feature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeflaterKey {}

impl Deflater {
    pub(crate) fn threshold(&self) -> usize {
        match *self {}
    }

    pub(crate) fn shared_output_key(&self) -> Option<DeflaterKey> {
        match *self {}
    }

    pub(crate) fn compress_alone(key: DeflaterKey, _message: &[u8], _out: &mut Vec<u8>) {
        match key {}
    }

    pub(crate) fn compress(&mut self, _input: &[u8], _fin: bool, _out: &mut Vec<u8>) {
        match *self {}
    }
}

impl Inflater {
    pub(crate) fn inflate_granted(
        &mut self,
        _input: &[u8],
        _out: &mut Vec<u8>,
        _limit: usize,
        _allow: &mut dyn FnMut(usize) -> bool,
    ) -> Result<(), InflateError> {
        match *self {}
    }

    pub(crate) fn finish_granted(
        &mut self,
        _out: &mut Vec<u8>,
        _limit: usize,
        _allow: &mut dyn FnMut(usize) -> bool,
    ) -> Result<(), InflateError> {
        match *self {}
    }
}
