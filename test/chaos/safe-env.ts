// Environment for an agent under test in this suite: nothing it starts may reach beyond loopback (pip has no index,
// proxies point at a closed local port).
const CLOSED = 'http://127.0.0.1:9';
export const SAFE_ENV: Record<string, string> = {
  PIP_NO_INDEX: '1', PIP_DISABLE_PIP_VERSION_CHECK: '1',
  http_proxy: CLOSED, https_proxy: CLOSED, HTTP_PROXY: CLOSED, HTTPS_PROXY: CLOSED, // loopback stays direct: gRPC (grpc-js honours these variables) and local peers never go through the proxy
  no_proxy: '127.0.0.1,localhost,::1', NO_PROXY: '127.0.0.1,localhost,::1',
};
