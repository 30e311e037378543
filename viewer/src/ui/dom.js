// A tiny element builder: el('div', {class: 'x', onclick}, [children or text]).

/** @typedef {Node | string | number | null | undefined | false} Child */

/** An element with attributes (``on*``: listeners; ``style``, ``dataset``: objects;
 * ``true``: a bare attribute; null, undefined, false: left out) and children.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag @param {Record<string, any>} [attrs] @param {Child | Child[]} [children]
 * @returns {HTMLElementTagNameMap[K]} */
export function el(tag, attrs = {}, children = []) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'style' && typeof value === 'object') Object.assign(node.style, value);
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? '' : value);
  }
  for (const child of /** @type {Child[]} */ ([]).concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/** Set text only when it changed (no layout work for a value that stayed).
 * @param {Node} node @param {unknown} text */
export function setText(node, text) {
  const s = String(text);
  if (node.textContent !== s) node.textContent = s;
}
