//! How a handle asks its driver a question: a command carrying the sender of the
//! answer, over the driver's command channel.

use tokio::sync::{mpsc, oneshot};

/// Sends the command `make` builds around an answer's sender, and waits for the answer;
/// `None` once the driver has stopped.
pub(crate) async fn ask<C, T>(
    commands: &mpsc::UnboundedSender<C>,
    make: impl FnOnce(oneshot::Sender<T>) -> C,
) -> Option<T> {
    let (tx, rx) = oneshot::channel();
    commands.send(make(tx)).ok()?;
    rx.await.ok()
}
