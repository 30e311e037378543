// Protocol v1 framing (twin/serving/protocol.py): u32 LE header length, msgpack header, zero
// padding to ALIGN, then a body of little-endian arrays referenced by {dtype, offset,
// count}. Arrays become typed-array views straight over the received ArrayBuffer: the
// server aligns each one, so no copy is ever made; a misaligned one is a server bug and
// throws rather than being silently copied.
import { decode, encode } from '@msgpack/msgpack';
import { ALIGN, CLIENT_MESSAGES, SERVER_MESSAGES, SERVER_TAGS, TAG_FIELD } from './protocol.generated.js';

/** @typedef {import('./types').Frame} Frame */
/** @typedef {import('./protocol.generated.js').ArrayRef} ArrayRef */
/** @typedef {import('./protocol.generated.js').ClientMessages} ClientMessages */
/** A state column: the typed array of a field's dtype, viewing a frame's buffer.
 * @typedef {Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array} Column */

/** @type {Record<string, {new (buffer: ArrayBuffer, offset: number, length: number): Column, BYTES_PER_ELEMENT: number}>} */
const TYPED_ARRAYS = {
  f4: Float32Array, f8: Float64Array,
  i1: Int8Array, u1: Uint8Array, b1: Uint8Array,
  i2: Int16Array, u2: Uint16Array,
  i4: Int32Array, u4: Uint32Array,
  i8: BigInt64Array, u8: BigUint64Array,
};

/** Counters the debug hook and tests read: frames decoded, views made, bytes. */
export const wireStats = { frames: 0, views: 0, misaligned: 0, bytes: 0 };

/** Decode one server frame: {name, header, buffer, bodyStart}; a header that is not a
 * message of the protocol, or lacks one of its message's fields, throws.
 * @param {ArrayBuffer} buffer @returns {Frame} */
export function decodeFrame(buffer) {
  const headerLength = new DataView(buffer).getUint32(0, true);
  const header = decode(new Uint8Array(buffer, 4, headerLength));
  const lead = 4 + headerLength;
  const bodyStart = lead + ((ALIGN - (lead % ALIGN)) % ALIGN);
  if (!header || typeof header !== 'object') throw new Error(`a message header is a map, not ${JSON.stringify(header)}`);
  const tag = /** @type {Record<string, unknown>} */ (header)[TAG_FIELD];
  // Own keys only: a tag such as "constructor" must not find Object.prototype's.
  const name = typeof tag === 'string' && Object.hasOwn(SERVER_TAGS, tag) ? SERVER_TAGS[/** @type {keyof typeof SERVER_TAGS} */ (tag)] : null;
  if (!name) throw new Error(`unknown message type ${JSON.stringify(tag)}`);
  for (const field of SERVER_MESSAGES[name].required) {
    if (!(field in header)) throw new Error(`${name} message lacks its field ${field}`);
  }
  wireStats.frames += 1;
  wireStats.bytes += buffer.byteLength;
  // The tag and every required field checked: the header is the message its tag names.
  return /** @type {Frame} */ ({ name, header, buffer, bodyStart });
}

/** The typed array an ArrayRef points at, as a view into the frame (no copy).
 * @param {{buffer: ArrayBuffer, bodyStart: number}} frame @param {ArrayRef} ref @returns {Column} */
export function arrayView(frame, ref) {
  if (ref.dtype[0] === '>') throw new Error(`big-endian array ${ref.dtype} in a little-endian protocol`);
  const Ctor = TYPED_ARRAYS[ref.dtype.slice(1)];
  if (!Ctor) throw new Error(`unsupported dtype ${ref.dtype}`);
  const at = frame.bodyStart + ref.offset;
  if (at % Ctor.BYTES_PER_ELEMENT !== 0) {
    wireStats.misaligned += 1;
    throw new Error(`array ${ref.dtype} at byte ${at} is not aligned to ${Ctor.BYTES_PER_ELEMENT}`);
  }
  wireStats.views += 1;
  return new Ctor(frame.buffer, at, ref.count);
}

/** One client message (header only), named as in CLIENT_MESSAGES.
 * @template {keyof ClientMessages} N
 * @param {N} name @param {Partial<Omit<ClientMessages[N], 'type'>>} fields @returns {Uint8Array<ArrayBuffer>} */
export function encodeClient(name, fields = {}) {
  const spec = CLIENT_MESSAGES[name];
  if (!spec) throw new Error(`unknown client message ${name}`);
  for (const key of Object.keys(fields)) {
    if (!spec.fields.includes(key)) throw new Error(`${name} has no field ${key}; valid: ${spec.fields.join(', ')}`);
  }
  const header = encode({ [TAG_FIELD]: spec.tag, ...fields });
  const out = new Uint8Array(4 + header.byteLength);
  new DataView(out.buffer).setUint32(0, header.byteLength, true);
  out.set(header, 4);
  return out;
}
