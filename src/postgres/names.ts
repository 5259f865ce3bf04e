/** Physical replication slot names PostgreSQL accepts (and Patroni's permanent-slot rule): `^[a-z0-9_]{1,63}$`. */
export function isValidSlotName(name: string): boolean {
  return /^[a-z0-9_]{1,63}$/.test(name);
}
