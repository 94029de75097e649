import t from 'tap';
import { AlpnResponderError, ERROR_CODES, codeFromProtocol, hasCode, protocolCode } from '../src/errors.js';

t.test('protocol code round-trips for every code', async (t) => {
  for (const code of Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[]) {
    t.equal(codeFromProtocol(protocolCode(code)), code);
  }
  t.equal(protocolCode('ERR_BAD_IDENTIFIER'), 'bad-identifier');
  t.equal(codeFromProtocol('no-such-thing'), undefined);
});

t.test('errors carry code and remedy', async (t) => {
  const e = new AlpnResponderError('ERR_BAD_TTL', 'ttl "x" is not a number');
  t.ok(hasCode(e, 'ERR_BAD_TTL'));
  t.notOk(hasCode(e, 'ERR_BAD_IDENTIFIER'));
  t.notOk(hasCode(new Error('x'), 'ERR_BAD_TTL'));
  t.match(e.remedy, /seconds/);
});
