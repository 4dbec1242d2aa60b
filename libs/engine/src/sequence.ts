/**
 * Destinations in sequence (`after:`): the reasons the ledger shows for a delivery that waits
 * for another destination's delivery of the same message, and for one dead-lettered because
 * that one was.
 */

/** The reason a delivery is parked while the destination it waits for has not sent the message. */
export const afterReason = (destination: string) => `after ${destination}`;
/** The reason a delivery is dead-lettered when the destination it waits for dead-lettered the message. */
export const dependencyFailedReason = (destination: string) => `dependency ${destination} failed`;
