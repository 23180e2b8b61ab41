//! Which end of the connection we are: the one fact the frame layer, the
//! connection and the handshakes all need, kept in a leaf module so that
//! none of them has to import another for it.

/// Which end of the connection we are. Clients mask what they send; servers
/// require masked frames and close the transport first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// The endpoint that opened the connection.
    Client,
    /// The endpoint that accepted it.
    Server,
}
