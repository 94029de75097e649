import type { RawConnection } from '../../src/diagnostics/port-owner.js';

/** One listening socket as systeminformation reports it (`ss`/`netstat` row), for the port-owner and self-test tests. */
export const row = (protocol: string, localAddress: string, localPort: string, pid: number | null, process = ''): RawConnection => ({
  protocol,
  localAddress,
  localPort,
  state: 'LISTEN',
  pid,
  process,
});
