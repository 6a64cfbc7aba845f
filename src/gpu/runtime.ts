/**
 * The GPU runtime: pipeline cache, tensor allocation with accounting, a step-long command encoder, uniform
 * arena and asynchronous readback. One instance per GPUDevice; it lives in the worker (or in Node for the CLI).
 *
 * A training step records every dispatch into one command encoder (and, where possible, one compute pass);
 * `flush()` submits it. Readbacks requested during the step are copied into staging buffers at the end of
 * the same encoder and resolve after the GPU finishes, so the CPU never stalls per layer.
 */
import { type Binding, type KernelCall, packUniforms } from './kernel';
import { type DType, type GpuTensor, byteSize, numel, shapeString } from './tensor';

const UNIFORM_ALIGN = 256;
const UNIFORM_CHUNK = 1 << 20;

interface UniformChunk {
  buffer: GPUBuffer;
  staging: Uint8Array;
  used: number;
}

interface PendingRead {
  staging: GPUBuffer;
  bytes: number;
  resolve: (data: ArrayBuffer) => void;
  reject: (e: unknown) => void;
}

export class GpuRuntime {
  readonly device: GPUDevice;
  private readonly modules = new Map<string, { module: GPUShaderModule; id: number }>();
  private readonly pipelines = new Map<string, { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout }>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  private uniformChunks: UniformChunk[] = [];
  private spareChunks: UniformChunk[] = [];
  private pendingReads: PendingRead[] = [];
  private liveBytes = 0;
  private peakBytes = 0;
  private readonly live = new Map<GPUBuffer, number>();
  /** Count of dispatches since creation; handy for tests and profiling. */
  dispatchCount = 0;
  private lost: string | null = null;
  private gpuError: string | null = null;

  constructor(device: GPUDevice) {
    this.device = device;
    device.lost
      .then((info) => {
        this.lost = `GPU device lost (${info.reason}): ${info.message}`;
      })
      .catch(() => undefined);
    // A validation or out-of-memory error would otherwise only reach the console and leave zeros behind:
    // keep the first one and raise it at the next readback.
    device.addEventListener('uncapturederror', (e: Event) => {
      const err = (e as GPUUncapturedErrorEvent).error;
      this.gpuError ??= `GPU error: ${err.message}`;
    });
  }

  // ---------------------------------------------------------------- tensors

  /** Allocates a zero-initialised tensor (WebGPU buffers start zeroed). */
  tensor(label: string, shape: readonly number[], dtype: DType = 'f32'): GpuTensor {
    this.checkAlive();
    const n = numel(shape);
    if (!Number.isInteger(n) || n < 0) throw new Error(`tensor ${label}: bad shape ${shapeString(shape)}`);
    const size = Math.max(16, Math.ceil((n * 4) / 16) * 16);
    const max = this.device.limits.maxBufferSize;
    if (size > max) {
      throw new Error(`tensor ${label} ${shapeString(shape)} needs ${(size / 2 ** 20).toFixed(1)} MiB, more than this GPU's largest buffer (${(max / 2 ** 20).toFixed(0)} MiB)`);
    }
    const buffer = this.device.createBuffer({
      label,
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
    this.live.set(buffer, size);
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return { buffer, shape: [...shape], dtype, label };
  }

  /** Allocates and uploads. The data's length must equal the tensor's element count. */
  upload(label: string, shape: readonly number[], data: Float32Array | Int32Array | Uint32Array, dtype?: DType): GpuTensor {
    const t = this.tensor(label, shape, dtype ?? (data instanceof Int32Array ? 'i32' : data instanceof Uint32Array ? 'u32' : 'f32'));
    this.write(t, data);
    return t;
  }

  /**
   * Writes host data into a tensor. queue.writeBuffer takes effect before the next submit, so write a step's
   * inputs before recording the step, never between dispatches that expect the old contents.
   */
  write(t: GpuTensor, data: Float32Array | Int32Array | Uint32Array, elementOffset = 0): void {
    if (elementOffset + data.length > numel(t.shape)) {
      throw new Error(`write to ${t.label} ${shapeString(t.shape)}: ${data.length} elements at offset ${elementOffset} do not fit`);
    }
    this.device.queue.writeBuffer(t.buffer, elementOffset * 4, data.buffer, data.byteOffset, data.byteLength);
  }

  release(t: GpuTensor): void {
    const size = this.live.get(t.buffer);
    if (size === undefined) return;
    this.live.delete(t.buffer);
    this.liveBytes -= size;
    t.buffer.destroy();
  }

  /** Bytes held in tensors now and at most so far: the engine's own memory accounting. */
  memory(): { liveBytes: number; peakBytes: number; buffers: number } {
    return { liveBytes: this.liveBytes, peakBytes: this.peakBytes, buffers: this.live.size };
  }

  // ---------------------------------------------------------------- dispatch

  dispatch(call: KernelCall): void {
    this.checkAlive();
    const { pipeline, layout } = this.pipelineFor(call);
    const entries: GPUBindGroupEntry[] = [];
    if (call.uniforms.length > 0) entries.push(this.uniformEntry(packUniforms(call.uniforms)));
    call.bindings.forEach((b, i) => entries.push({ binding: i + 1, resource: { buffer: b.tensor.buffer, size: byteSize(b.tensor) || 16 } }));
    this.checkAliasing(call);
    const bindGroup = this.device.createBindGroup({ label: call.name, layout, entries });
    const pass = this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    const [x, y, z] = call.workgroups;
    if (x > 0 && y > 0 && z > 0) pass.dispatchWorkgroups(x, y, z);
    this.dispatchCount++;
  }

  /** Copies `src` into `dst` (whole tensors or element ranges) inside the current step. */
  copy(src: GpuTensor, dst: GpuTensor, elements = Math.min(numel(src.shape), numel(dst.shape)), srcOffset = 0, dstOffset = 0): void {
    this.endPass();
    this.commandEncoder().copyBufferToBuffer(src.buffer, srcOffset * 4, dst.buffer, dstOffset * 4, elements * 4);
  }

  /**
   * Schedules a copy of the tensor (or a range of it) to the host. The promise resolves after the step that
   * contains it is flushed and the GPU has finished it; it never forces a flush by itself.
   */
  readback(t: GpuTensor, elementOffset = 0, elements = numel(t.shape) - elementOffset): Promise<ArrayBuffer> {
    this.checkAlive();
    const bytes = elements * 4;
    const staging = this.device.createBuffer({ label: `read ${t.label}`, size: Math.max(16, Math.ceil(bytes / 4) * 4), usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    this.endPass();
    if (bytes > 0) this.commandEncoder().copyBufferToBuffer(t.buffer, elementOffset * 4, staging, 0, bytes);
    return new Promise((resolve, reject) => this.pendingReads.push({ staging, bytes, resolve, reject }));
  }

  /** Readback + flush + await, for tests, init and export (never inside the training step). */
  async read(t: GpuTensor): Promise<Float32Array> {
    const p = this.readback(t);
    this.flush();
    return new Float32Array(await p);
  }

  async readInt(t: GpuTensor): Promise<Int32Array> {
    const p = this.readback(t);
    this.flush();
    return new Int32Array(await p);
  }

  private checkResult(): void {
    if (this.lost) throw new Error(this.lost);
    if (this.gpuError) throw new Error(this.gpuError);
  }

  /** Submits everything recorded since the last flush, then maps the staging buffers of this step's reads. */
  flush(): void {
    this.checkAlive();
    this.endPass();
    for (const c of this.uniformChunks) {
      if (c.used > 0) this.device.queue.writeBuffer(c.buffer, 0, c.staging.buffer, 0, c.used);
    }
    if (this.encoder) this.device.queue.submit([this.encoder.finish()]);
    this.encoder = null;
    // Uniform chunks are safe to reuse once the writes above are queued: the next writeBuffer is ordered after
    // this submit on the queue timeline.
    for (const c of this.uniformChunks) c.used = 0;
    this.spareChunks.push(...this.uniformChunks);
    this.uniformChunks = [];
    const reads = this.pendingReads;
    this.pendingReads = [];
    for (const r of reads) {
      r.staging
        .mapAsync(GPUMapMode.READ)
        .then(() => {
          const data = r.staging.getMappedRange(0, Math.max(0, r.bytes)).slice(0);
          r.staging.unmap();
          r.staging.destroy();
          this.checkResult();
          r.resolve(data);
        })
        .catch((e: unknown) => r.reject(this.lost || this.gpuError ? new Error(this.lost ?? this.gpuError ?? '') : e));
    }
  }

  /** Resolves when the GPU has finished all submitted work. */
  async idle(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
  }

  destroy(): void {
    for (const b of this.live.keys()) b.destroy();
    this.live.clear();
    this.liveBytes = 0;
    for (const c of [...this.uniformChunks, ...this.spareChunks]) c.buffer.destroy();
  }

  // ---------------------------------------------------------------- internals

  private checkAlive(): void {
    if (this.lost) throw new Error(this.lost);
  }

  private commandEncoder(): GPUCommandEncoder {
    if (!this.encoder) this.encoder = this.device.createCommandEncoder();
    return this.encoder;
  }

  private computePass(): GPUComputePassEncoder {
    if (!this.pass) this.pass = this.commandEncoder().beginComputePass();
    return this.pass;
  }

  private endPass(): void {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
  }

  private uniformEntry(data: ArrayBuffer): GPUBindGroupEntry {
    let chunk = this.uniformChunks[this.uniformChunks.length - 1];
    if (!chunk || chunk.used + UNIFORM_ALIGN > UNIFORM_CHUNK) {
      chunk = this.spareChunks.pop() ?? {
        buffer: this.device.createBuffer({ label: 'uniforms', size: UNIFORM_CHUNK, usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST }),
        staging: new Uint8Array(UNIFORM_CHUNK),
        used: 0,
      };
      this.uniformChunks.push(chunk);
    }
    const offset = chunk.used;
    chunk.staging.set(new Uint8Array(data), offset);
    chunk.used += UNIFORM_ALIGN;
    return { binding: 0, resource: { buffer: chunk.buffer, offset, size: data.byteLength } };
  }

  private checkAliasing(call: KernelCall): void {
    const writable = new Set<GPUBuffer>();
    for (const b of call.bindings) {
      if (b.access === 'read_write') {
        if (writable.has(b.tensor.buffer)) throw new Error(`${call.name}: ${b.tensor.label} is bound writable twice`);
        writable.add(b.tensor.buffer);
      }
    }
    for (const b of call.bindings) {
      if (b.access === 'read' && writable.has(b.tensor.buffer)) {
        throw new Error(`${call.name}: ${b.tensor.label} is bound read-only and read-write in one dispatch`);
      }
    }
  }

  private pipelineFor(call: KernelCall): { pipeline: GPUComputePipeline; layout: GPUBindGroupLayout } {
    const constants = call.constants ?? {};
    const constKey = Object.keys(constants).sort().map((k) => `${k}=${constants[k]}`).join(',');
    const access = call.bindings.map((b: Binding) => (b.access === 'read' ? 'r' : 'w')).join('');
    let mod = this.modules.get(call.shader);
    if (!mod) {
      mod = { module: this.device.createShaderModule({ label: call.name, code: call.shader }), id: this.modules.size };
      this.modules.set(call.shader, mod);
    }
    const module = mod.module;
    const key = `${mod.id}|${call.entryPoint}|${constKey}|${call.uniforms.length > 0 ? 'u' : ''}${access}`;
    const cached = this.pipelines.get(key);
    if (cached) return cached;
    const layoutEntries: GPUBindGroupLayoutEntry[] = [];
    if (call.uniforms.length > 0) layoutEntries.push({ binding: 0, visibility: GPUShaderStage.COMPUTE, buffer: { type: 'uniform' } });
    call.bindings.forEach((b, i) =>
      layoutEntries.push({ binding: i + 1, visibility: GPUShaderStage.COMPUTE, buffer: { type: b.access === 'read' ? 'read-only-storage' : 'storage' } }),
    );
    const layout = this.device.createBindGroupLayout({ label: call.name, entries: layoutEntries });
    const pipeline = this.device.createComputePipeline({
      label: `${call.name}:${call.entryPoint}`,
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: call.entryPoint, constants },
    });
    const entry = { pipeline, layout };
    this.pipelines.set(key, entry);
    return entry;
  }
}
