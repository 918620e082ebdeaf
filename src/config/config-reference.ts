/**
 * docs/configuration.md's key table, generated from the schema so the two
 * cannot drift: a unit test fails when the committed doc differs.
 */
import { z } from 'zod';
import { configSchema } from './schema.js';

interface JsonSchema {
  type?: string | string[];
  description?: string;
  default?: unknown;
  enum?: unknown[];
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  additionalProperties?: JsonSchema | boolean;
  pattern?: string;
}

function typeText(s: JsonSchema): string {
  if (s.enum) return s.enum.map((e) => `\`${String(e)}\``).join(' \\| ');
  if (s.anyOf) return [...new Set(s.anyOf.map(typeText))].join(' or ');
  if (s.type === 'array') return `list of ${s.items ? typeText(s.items) : 'values'}`;
  if (s.type === 'object' && s.additionalProperties && typeof s.additionalProperties === 'object') return 'map of name → object';
  return String(s.type ?? 'value');
}

function rows(s: JsonSchema, path: string, required: boolean, out: string[]): void {
  const def = s.default === undefined ? (required ? 'required' : '—') : `\`${typeof s.default === 'object' ? JSON.stringify(s.default) : String(s.default)}\``;
  if (path) out.push(`| \`${path}\` | ${typeText(s)} | ${def} | ${(s.description ?? '').replace(/\|/g, '\\|')} |`);
  const obj = s.anyOf?.find((a) => a.type === 'object' || a.type === 'array') ?? s;
  if (obj.type === 'object' && obj.properties) {
    for (const [k, v] of Object.entries(obj.properties)) rows(v, path ? `${path}.${k}` : k, obj.required?.includes(k) ?? false, out);
  } else if (obj.type === 'object' && obj.additionalProperties && typeof obj.additionalProperties === 'object') {
    rows({ ...obj.additionalProperties, description: undefined }, `${path}.<name>`, false, out);
  } else if (obj.type === 'array' && obj.items?.type === 'object') {
    rows({ ...obj.items, description: undefined }, `${path}[]`, false, out);
  }
}

export function configReferenceTable(): string {
  const json = z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
  const out = ['| key | type | default | meaning |', '| --- | --- | --- | --- |'];
  rows(json, '', true, out);
  return out.filter((l) => !/^\| `[^`]*\[\]` \| (list of )?object \| — \|  \|$/.test(l)).join('\n') + '\n';
}

export const REFERENCE_BEGIN = '<!-- generated from src/config/schema.ts: begin -->';
export const REFERENCE_END = '<!-- generated from src/config/schema.ts: end -->';

/** Replaces the generated block in a markdown document. */
export function withReferenceTable(markdown: string): string {
  const a = markdown.indexOf(REFERENCE_BEGIN);
  const b = markdown.indexOf(REFERENCE_END);
  if (a < 0 || b < a) throw new Error('docs/configuration.md lacks the generated-block markers');
  return markdown.slice(0, a + REFERENCE_BEGIN.length) + '\n' + configReferenceTable() + markdown.slice(b);
}
