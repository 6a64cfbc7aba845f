/**
 * Device acquisition. We ask for the adapter's own maximum limits (the defaults cap storage bindings at 128 MiB,
 * too small for real embedding tables) and for the optional features we can use when present.
 */
export const OPTIONAL_FEATURES: GPUFeatureName[] = ['shader-f16', 'subgroups', 'timestamp-query'];

export interface AcquiredDevice {
  device: GPUDevice;
  adapterInfo: { vendor: string; architecture: string; device: string; description: string };
  features: string[];
}

export async function acquireDevice(gpu: GPU | undefined): Promise<AcquiredDevice> {
  if (!gpu) throw new Error('WebGPU is not available: this browser or runtime has no navigator.gpu (a secure context such as http://localhost is required)');
  const adapter = await gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) throw new Error('WebGPU is available but no GPU adapter was found');
  const requiredFeatures = OPTIONAL_FEATURES.filter((f) => adapter.features.has(f));
  const requiredLimits: Record<string, number> = {};
  for (const name of [
    'maxStorageBufferBindingSize',
    'maxBufferSize',
    'maxComputeWorkgroupStorageSize',
    'maxComputeInvocationsPerWorkgroup',
    'maxComputeWorkgroupSizeX',
    'maxComputeWorkgroupSizeY',
    'maxStorageBuffersPerShaderStage',
  ] as const) {
    requiredLimits[name] = adapter.limits[name];
  }
  const device = await adapter.requestDevice({ requiredFeatures, requiredLimits });
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  return {
    device,
    adapterInfo: {
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
    },
    features: requiredFeatures,
  };
}
