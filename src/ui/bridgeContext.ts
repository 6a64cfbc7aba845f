/** Hands the page's single TrainerBridge to components. */
import { createContext, useContext } from 'react';
import type { TrainerBridge } from './bridge';

export const BridgeContext = createContext<TrainerBridge | null>(null);

export function useBridge(): TrainerBridge {
  const bridge = useContext(BridgeContext);
  if (!bridge) throw new Error('useBridge outside <BridgeContext.Provider>');
  return bridge;
}
