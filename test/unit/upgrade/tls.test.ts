/**
 * The orchestrator's connections (blue, green) take libpq's sslmode meanings through
 * runtime/core/postgres-tls.ts, not node-postgres's (whose `require` verifies against the public
 * CAs, so CloudNativePG's servers never connected). Checked before any network I/O: a mode
 * libpq-compatible parsing refuses, and an unreadable sslrootcert, fail with floe's messages
 * instead of a connection attempt to a closed port.
 */
import { copyOwnership } from "../../../runtime/upgrade/ownership";
import { connect } from "../../../runtime/upgrade/replication";

const closed = "postgresql://postgres:pw@127.0.0.1:1/app";

test("blue / green connections refuse sslmode prefer and name an unreadable sslrootcert, before connecting", async () => {
  await expect(connect(`${closed}?sslmode=prefer`)).rejects.toThrow(/prefer/);
  await expect(connect(`${closed}?sslmode=verify-full&sslrootcert=/nonexistent/floe-ca.crt`)).rejects.toThrow(/\/nonexistent\/floe-ca\.crt/);
  await expect(copyOwnership(`${closed}?sslmode=prefer`, closed)).rejects.toThrow(/prefer/);
  // and the URL's mode is what is used: disable on a closed port is a plain connection refusal
  await expect(connect(`${closed}?sslmode=disable`)).rejects.toThrow(/ECONNREFUSED/);
});
