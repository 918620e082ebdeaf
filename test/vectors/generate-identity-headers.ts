/**
 * Writes test/vectors/identity-header-vectors.json (see identity-header-cases.ts).
 *
 *   npm run vectors      (= tsc, then the delegation vectors, then this)
 */
import { writeFileSync } from 'node:fs';
import { buildIdentityHeaderVectors, IDENTITY_HEADER_VECTORS_FILE } from './identity-header-cases.js';

const vectors = buildIdentityHeaderVectors();
writeFileSync(IDENTITY_HEADER_VECTORS_FILE, JSON.stringify(vectors, null, 2) + '\n');
console.log(`wrote ${IDENTITY_HEADER_VECTORS_FILE}: ${vectors.encode.length} encodings, ${vectors.decode.length} decodings`);
