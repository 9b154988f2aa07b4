/** Postgres LSNs as bigint, and their "X/Y" text form. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  if (!m) throw new Error(`not an LSN: "${text}" (expected the form 16/B374D848)`);
  return (BigInt("0x" + m[1]) << 32n) | BigInt("0x" + m[2]);
}

export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}
