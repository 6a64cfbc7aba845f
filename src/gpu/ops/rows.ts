/**
 * Launch shape of the row kernels (shaders/norm.wgsl, shaders/cross_entropy.wgsl): how many threads share one
 * row and how many workgroups of ROW_WG cover M rows.
 *
 * A row of `length` elements gets the smallest power of two t (1..ROW_WG) of threads with t * elemsPerThread >=
 * length; a workgroup of ROW_WG threads then handles ROW_WG / t rows. With t = 1 every thread owns a whole row
 * and the kernel has no barrier at all (the `_serial` entry points): short rows (the hidden size of a tiny model)
 * cost one thread each instead of a workgroup with a shared-memory reduction. On a CPU implementation of WebGPU
 * (SwiftShader), a workgroup that contains a barrier runs each group of 4 invocations as a coroutine: its start
 * and every barrier cost far more than the arithmetic on a short row, so these kernels launch few workgroups,
 * and the cooperative ones reduce with a single barrier. On a GPU, long rows still get up to 64 threads each.
 */
import { grid1d } from '../kernel';

/** Workgroup size of every row kernel (WG in the shaders). */
export const ROW_WG = 64;

export interface RowLaunch {
  /** Threads per row: 1 means the barrier-free `_serial` entry point, else the TPR override of the cooperative one. */
  threadsPerRow: number;
  workgroups: [number, number, number];
}

export function rowLaunch(rows: number, length: number, elemsPerThread: number): RowLaunch {
  let threadsPerRow = 1;
  while (threadsPerRow < ROW_WG && threadsPerRow * elemsPerThread < length) threadsPerRow *= 2;
  const rowsPerGroup = ROW_WG / threadsPerRow;
  return { threadsPerRow, workgroups: grid1d(Math.ceil(rows / rowsPerGroup)) };
}

/** Entry point and pipeline constants of a row kernel with a cooperative (`name`) and a serial (`name_serial`) form. */
export function rowEntry(name: string, launch: RowLaunch): { entryPoint: string; constants?: Record<string, number> } {
  return launch.threadsPerRow === 1 ? { entryPoint: `${name}_serial` } : { entryPoint: name, constants: { TPR: launch.threadsPerRow } };
}
