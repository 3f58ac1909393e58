// The `kuksa-server` kind: a databroker binary (the image's or the operator's, not user code), deployed like a
// binary. It gets cgroup limits only: an address-space rlimit keeps a Rust/tokio binary from starting (it reserves
// far more than it uses), and the run user's box-wide process count would tie it to every app's. The vehicle model
// commands restart the apps of this kind (commands/model.ts).
import { executableKind } from './binary';
import type { AppKind } from './kind';

export const kuksaServer: AppKind = { ...executableKind('kuksa-server'), rlimits: false };
