//! Leader election with a coordination.k8s.io/v1 Lease (through
//! `kube-lease-manager`, which speaks the Lease protocol with server-side apply so two
//! candidates can never both hold it). Every replica keeps its caches warm; only the
//! holder runs the controllers. A replica that loses the Lease stops reconciling and
//! exits, and its orchestrator restarts it as a candidate; one that shuts down
//! releases the Lease so the standby takes over at once.

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::{info, warn};

/// The Lease every replica competes for.
pub const LEASE_NAME: &str = "aimctl-leader";

pub struct Leadership {
    state: watch::Receiver<bool>,
    task: JoinHandle<Result<LeaseManager, LeaseManagerError>>,
}

/// Joins the election. `duration` is how long a holder's claim lasts without renewal
/// (the takeover time when a leader dies without releasing).
pub async fn campaign(
    client: Client,
    namespace: &str,
    identity: &str,
    duration_seconds: u64,
) -> Result<Leadership, LeaseManagerError> {
    let duration = duration_seconds.max(2);
    let grace = (duration / 3).max(1);
    let manager = LeaseManagerBuilder::new(client, LEASE_NAME)
        .with_namespace(namespace)
        .with_identity(identity)
        .with_duration(duration)
        .with_grace(grace)
        .build()
        .await?;
    let (state, task) = manager.watch().await;
    Ok(Leadership { state, task })
}

impl Leadership {
    /// Waits until this replica holds the Lease; `false` if the election ended.
    pub async fn acquired(&mut self) -> bool {
        self.state.wait_for(|leader| *leader).await.is_ok()
    }

    /// Waits until this replica no longer holds the Lease.
    pub async fn lost(&mut self) {
        let _ = self.state.wait_for(|leader| !*leader).await;
    }

    /// Gives the Lease up (the standby takes over without waiting for it to expire).
    pub async fn release(self) {
        drop(self.state);
        match self.task.await {
            Ok(Ok(_)) => info!("leader Lease released"),
            Ok(Err(e)) => warn!(error = %e, "releasing the leader Lease"),
            Err(e) => warn!(error = %e, "the Lease task failed"),
        }
    }
}
