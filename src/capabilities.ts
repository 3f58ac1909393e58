// The capability list the runtime advertises (seed 000), in register_kit's support_apis and get_runtime_info.
export const CAPABILITIES: readonly string[] = Object.freeze([
  'python_app_execution',
  'binary_app_execution',
  'console_output',
  'app_status_monitoring',
  'vehicle_signals',
  'vss_management',
  'signal_subscription',
]);
