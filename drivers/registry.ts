import type { NodeIdentity, PowerDriver } from './driver.js';

/** Picks the driver for a node from `spec.providerID` (`aws:///…`, `openstack:///…`). */
export interface DriverRegistry {
  /** The driver for a node, or a reason why there is none. */
  pick(node: NodeIdentity): { driver: PowerDriver } | { reason: string };
  byName(name: string): PowerDriver | undefined;
}

export function createDriverRegistry(drivers: readonly PowerDriver[]): DriverRegistry {
  return {
    pick(node) {
      const matching = drivers.filter((driver) => driver.handles(node));
      if (matching.length === 1 && matching[0]) return { driver: matching[0] };
      // A driver configured as the default claims every node; the providerID's own scheme wins over it.
      const scheme = node.providerID?.split(':')[0];
      const own = matching.filter((driver) => driver.name === scheme);
      if (own.length === 1 && own[0]) return { driver: own[0] };
      if (matching.length > 1) {
        return { reason: `several drivers claim the node: ${matching.map((d) => d.name).join(', ')}` };
      }
      return {
        reason: node.providerID
          ? `no enabled driver for providerID scheme "${scheme}" (ALERTFENCE_DRIVERS: ${drivers.map((d) => d.name).join(', ') || 'none'})`
          : 'node has no spec.providerID and no enabled driver looks nodes up by name or address',
      };
    },
    byName: (name) => drivers.find((driver) => driver.name === name),
  };
}
