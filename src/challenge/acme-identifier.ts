/**
 * Reads the acmeIdentifier value out of a challenge certificate: what serving a `--watch-dir` pair needs, once the
 * CA's checks (diagnostics/verify.ts) have passed. A pure function over DER bytes.
 */
import { ACME_IDENTIFIER_OID } from '../constants.js';
import { DIGEST_LENGTH } from './authorization.js';
import { DerError, DerReader, TAG, content, decodeOid } from './der.js';

/** Context-specific, constructed [3]: the extensions of a v3 TBSCertificate (RFC 5280 §4.1). */
const EXTENSIONS_TAG = 0xa3;

/**
 * The digest in the certificate's acmeIdentifier extension (RFC 8737 §3: "an extnValue containing the ASN.1 DER
 * encoding of the Authorization structure", `Authorization ::= OCTET STRING (SIZE (32))`), or undefined when the
 * certificate is malformed or has no such value of 32 bytes.
 */
export function acmeIdentifierDigest(der: Uint8Array): Uint8Array | undefined {
  try {
    const certificate = new DerReader(der).read(TAG.SEQUENCE, 'certificate');
    const tbs = DerReader.over(der, DerReader.over(der, certificate).read(TAG.SEQUENCE, 'tbsCertificate'));
    while (!tbs.empty) {
      const field = tbs.readAny();
      if (field.tag !== EXTENSIONS_TAG) continue;
      const extensions = DerReader.over(der, DerReader.over(der, field).read(TAG.SEQUENCE, 'extensions'));
      while (!extensions.empty) {
        // Extension ::= SEQUENCE { extnID OBJECT IDENTIFIER, critical BOOLEAN DEFAULT FALSE, extnValue OCTET STRING }
        const extension = DerReader.over(der, extensions.read(TAG.SEQUENCE, 'extension'));
        const oid = decodeOid(content(der, extension.read(TAG.OID, 'extnID')));
        if (extension.peekTag() === TAG.BOOLEAN) extension.readAny();
        const value = content(der, extension.read(TAG.OCTET_STRING, 'extnValue'));
        if (oid !== ACME_IDENTIFIER_OID) continue;
        const inner = new DerReader(value);
        const digest = content(value, inner.read(TAG.OCTET_STRING, 'Authorization'));
        return inner.empty && digest.length === DIGEST_LENGTH ? digest.slice() : undefined;
      }
    }
    return undefined;
  } catch (error) {
    if (error instanceof DerError) return undefined;
    throw error;
  }
}
