//! The Kubernetes REST API over the ferrokube store.
