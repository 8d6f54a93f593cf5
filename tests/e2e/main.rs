//! End-to-end tests: real `kubectl` against a Kubernetes API — the kube emulator
//! (started per test, see [`harness`]) or the cluster of `AIMCTL_E2E_KUBECONFIG`.

mod harness;
mod operator;
mod seeds;
