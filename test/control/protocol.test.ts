import t from 'tap';
import fc from 'fast-check';
import { AlpnResponderError, ERROR_CODES } from '../../src/errors.js';
import { COMMAND_USAGE, formatErrorReply, parseCommand, parseFinalReply, parseTtl } from '../../src/control/protocol.js';
import { quoteInput } from '../../src/errors.js';

t.test('parses every command', async (t) => {
  t.same(parseCommand('deploy example.org ab:cd'), { name: 'deploy', identifier: 'example.org', authorization: 'ab:cd', ttlSeconds: undefined });
  t.same(parseCommand('  DEPLOY\texample.org  ab:cd 60\r'), { name: 'deploy', identifier: 'example.org', authorization: 'ab:cd', ttlSeconds: 60 });
  t.same(parseCommand('clean example.org'), { name: 'clean', identifier: 'example.org' });
  t.same(parseCommand('list'), { name: 'list' });
  t.same(parseCommand('status'), { name: 'status' });
  t.same(parseCommand('help'), { name: 'help' });
  t.same(parseCommand('auth example.org abc'), { name: 'auth', identifier: 'example.org', authorization: 'abc' });
  t.same(parseCommand('unauth example.org'), { name: 'unauth', identifier: 'example.org' });
});

t.test('rejects bad lines with stable codes', async (t) => {
  const code = (line: string) => {
    try {
      parseCommand(line);
      return 'no error';
    } catch (error) {
      return (error as AlpnResponderError).code;
    }
  };
  t.equal(code(''), 'ERR_UNKNOWN_COMMAND');
  t.equal(code('   '), 'ERR_UNKNOWN_COMMAND');
  t.equal(code('frobnicate x'), 'ERR_UNKNOWN_COMMAND');
  t.equal(code('\u0000\u0001binary'), 'ERR_UNKNOWN_COMMAND');
  t.equal(code('deploy example.org'), 'ERR_BAD_ARGUMENTS');
  t.equal(code('deploy a b 1 2'), 'ERR_BAD_ARGUMENTS');
  t.equal(code('list extra'), 'ERR_BAD_ARGUMENTS');
  t.equal(code('clean'), 'ERR_BAD_ARGUMENTS');
  t.equal(code('deploy a b 0'), 'ERR_BAD_TTL');
  t.equal(code('deploy a b -5'), 'ERR_BAD_TTL');
  t.equal(code('deploy a b 1.5'), 'ERR_BAD_TTL');
  t.equal(code('deploy a b 604801'), 'ERR_BAD_TTL');
  t.equal(code('hasOwnProperty'), 'ERR_UNKNOWN_COMMAND');
});

t.test('usage message names the arguments', async (t) => {
  t.throws(() => parseCommand('deploy x'), { message: 'usage: deploy <identifier> <authorization> [ttl-seconds]' });
});

t.test('ttl bounds', async (t) => {
  t.equal(parseTtl('1'), 1);
  t.equal(parseTtl('604800'), 604800);
  t.throws(() => parseTtl('abc'), { code: 'ERR_BAD_TTL' });
});

t.test('error replies are one line', async (t) => {
  t.equal(formatErrorReply('ERR_BAD_IDENTIFIER', 'bad\nthing\r\nhere'), 'ERR bad-identifier bad thing here');
  t.equal(quoteInput('a'.repeat(100), 10), '"aaaaaaaaaa…"');
  t.equal(quoteInput('x\ny'), '"x\\ny"');
});

t.test('final replies', async (t) => {
  t.same(parseFinalReply('OK'), { ok: true, text: '' });
  t.same(parseFinalReply('OK deployed x'), { ok: true, text: 'deployed x' });
  t.same(parseFinalReply('ERR bad-ttl nope'), { ok: false, code: 'ERR_BAD_TTL', shortCode: 'bad-ttl', message: 'nope' });
  t.same(parseFinalReply('ERR weird'), { ok: false, code: undefined, shortCode: 'weird', message: '' });
  t.equal(parseFinalReply('example.org abc'), undefined);
  t.equal(parseFinalReply('OKAY'), undefined);
});

t.test('every error code round-trips through a reply line', async (t) => {
  for (const code of Object.keys(ERROR_CODES) as (keyof typeof ERROR_CODES)[]) {
    const reply = parseFinalReply(formatErrorReply(code, 'm'));
    t.same(reply, { ok: false, code, shortCode: reply && !reply.ok ? reply.shortCode : '', message: 'm' });
  }
});

t.test('help lines never look like a final reply', async (t) => {
  for (const line of Object.values(COMMAND_USAGE)) t.equal(parseFinalReply(line), undefined);
});

t.test('property: any line parses or fails with our error, never anything else', async (t) => {
  fc.assert(
    fc.property(fc.string({ maxLength: 300 }), (line) => {
      try {
        parseCommand(line);
      } catch (error) {
        if (!(error instanceof AlpnResponderError)) throw error;
      }
    }),
    { numRuns: 20_000 },
  );
  t.pass('20,000 random lines');
});
