// Left panel: layers (each with its legend from the plugin's style, its assets per
// level and the share of its sensors online), the severity legend (colour and name for
// every level, and the grey of assets without live readings), the underground view
// (toggle and ground opacity) and the colour-by choice with its ramp and unit.
import { el, setText } from './dom.js';
import { lang, t } from '../i18n.js';
import { LEVEL_COLOURS, LEVEL_INK, RAMP_CSS, STALE_COLOUR } from '../levels.js';
import { domainLabel, fieldLabel, formatValue, levelName } from './labels.js';

const ROMAN = ['', 'IV', 'III', 'II', 'I'];

export class LayerPanel {
  /** @param {HTMLElement} parent @param {{onLayer: (name: string, visible: boolean) => void, onUnderground: (on: boolean, opacity: number) => void, onColour: (value: string) => void}} handlers */
  constructor(parent, { onLayer, onUnderground, onColour }) {
    this.onLayer = onLayer;
    this.onUnderground = onUnderground;
    this.onColour = onColour;
    this.layerList = el('div', { class: 'layers' });
    this.levelLegend = el('div', { class: 'levels' });
    this.undergroundBox = el('input', { type: 'checkbox', id: 'underground' });
    this.slider = el('input', { type: 'range', id: 'ground-opacity', min: 0, max: 100, value: 25 });
    this.sliderValue = el('span', { class: 'value' });
    this.select = el('select', { id: 'colour-by' });
    this.ramp = el('div', { class: 'ramp', hidden: true });
    this.undergroundBox.addEventListener('change', () => this.emitUnderground());
    this.slider.addEventListener('input', () => this.emitUnderground());
    this.select.addEventListener('change', () => this.onColour(this.select.value));
    this.node = el('aside', { class: 'panel left' }, [
      el('h2', {}, t('layers')), this.layerList,
      el('h2', {}, t('severity')), this.levelLegend,
      el('h2', {}, t('underground')),
      el('label', { class: 'row' }, [this.undergroundBox, el('span', {}, t('underground'))]),
      el('label', { class: 'row slider' }, [el('span', {}, t('ground')), this.slider, this.sliderValue]),
      el('div', { class: 'colour-by' }, [el('h2', {}, t('colourBy')), this.select, this.ramp]),
    ]);
    parent.append(this.node);
    this.counts = new Map();
    this.online = new Map();
  }

  emitUnderground() {
    setText(this.sliderValue, `${this.slider.value}%`);
    this.onUnderground(this.undergroundBox.checked, Number(this.slider.value) / 100);
  }

  /** @param {boolean} on */
  setUnderground(on) {
    if (this.undergroundBox.checked === on) return;
    this.undergroundBox.checked = on;
    this.emitUnderground();
  }

  /** Build the layer rows and selects once the schema and meshes are known.
   * @param {import('../state.js').TwinState} state @param {string[]} baseNames @param {string[]} domainNames @param {(name: string) => boolean} visible
   * @param {Map<string, import('../protocol.generated.js').AreaLook>} [areas] the base layers that are areas of the scene, with their titles and colours */
  build(state, baseNames, domainNames, visible, areas = new Map()) {
    this.layerList.replaceChildren();
    this.counts.clear();
    this.online.clear();
    for (const name of baseNames) {
      const box = el('input', { type: 'checkbox', checked: visible(name), dataset: { layer: name } });
      box.addEventListener('change', () => this.onLayer(name, box.checked));
      const area = areas.get(name);
      const swatch = area ? el('span', { class: 'swatch', style: { background: area.colour } }) : el('span', { class: `swatch base-${name}` });
      const label = area ? (lang === 'zh-CN' ? area.title_zh : area.title) : t(name);
      this.layerList.append(el('label', { class: 'row layer base' }, [box, swatch, el('span', {}, label)]));
    }
    for (const domain of domainNames) {
      const style = state.domains.get(domain)?.info.style;
      const box = el('input', { type: 'checkbox', checked: visible(domain), dataset: { layer: domain } });
      box.addEventListener('change', () => this.onLayer(domain, box.checked));
      const counts = el('span', { class: 'counts' });
      this.counts.set(domain, counts);
      const online = el('span', { class: 'online', title: t('sensorsOnline'), hidden: true });
      this.online.set(domain, online);
      this.layerList.append(el('label', { class: 'row layer domain', dataset: { domain } }, [
        box, el('span', { class: 'swatch', style: { background: style?.color || '#8090a0' } }),
        el('span', { class: 'name' }, domainLabel(state, domain)), online, counts,
      ]));
    }
    this.levelLegend.replaceChildren(...[1, 2, 3, 4].map((level) => el('div', { class: 'legend-level', dataset: { level } }, [
      el('span', { class: 'chip', style: { background: LEVEL_COLOURS[level], color: LEVEL_INK[level] } }, ROMAN[level]),
      el('span', {}, levelName(state, level)),
    ])), el('div', { class: 'legend-level stale' }, [
      el('span', { class: 'chip', style: { background: STALE_COLOUR, color: '#ffffff' } }, '—'),
      el('span', {}, t('staleRows')),
    ]));
    this.select.replaceChildren(el('option', { value: '' }, t('selectField')));
    for (const domain of domainNames) {
      const d = state.domains.get(domain);
      if (!d) continue;
      for (const f of d.info.fields) {
        if (f.attribute) continue;
        const unit = f.unit && f.unit !== '1' ? ` (${f.unit})` : '';
        this.select.append(el('option', { value: `${domain}.${f.name}` }, `${domainLabel(state, domain)} · ${fieldLabel(state, domain, f.name)}${unit}`));
      }
    }
    this.emitUnderground();
  }

  /** Assets per level per domain, as chips with text (never colour alone).
   * @param {Record<string, number[]>} counts */
  updateCounts(counts) {
    for (const [domain, node] of this.counts) {
      const c = counts[domain] || [0, 0, 0, 0, 0];
      const key = c.join(',');
      if (node.dataset.key === key) continue;
      node.dataset.key = key;
      node.replaceChildren(...[4, 3, 2, 1].filter((l) => c[l] > 0).map((l) => el('span', {
        class: 'chip small', style: { background: LEVEL_COLOURS[l], color: LEVEL_INK[l] },
      }, `${ROMAN[l]}·${c[l]}`)));
    }
  }

  /** The share of each domain's sensors online ({domain: share in [0, 1] or null}), as
   * "online 99.8%": floored, so that one sensor down of hundreds never reads 100%.
   * @param {Record<string, number | null>} shares */
  updateOnline(shares) {
    for (const [domain, node] of this.online) {
      const share = shares[domain];
      node.hidden = share === null || share === undefined;
      if (share === null || share === undefined) continue;
      const percent = share >= 1 ? '100' : (Math.floor(share * 1000) / 10).toFixed(1);
      setText(node, `${t('online')} ${percent}%`);
      node.classList.toggle('degraded', share < 1);
      node.dataset.share = String(share);
    }
  }

  /** @param {import('../state.js').TwinState} state @param {import('../painter.js').FieldMode | null} mode */
  showRamp(state, mode) {
    this.ramp.hidden = !mode;
    if (!mode) return;
    const unit = mode.unit && mode.unit !== '1' ? mode.unit : '';
    this.ramp.replaceChildren(
      el('div', { class: 'ramp-bar', style: { background: RAMP_CSS } }),
      el('div', { class: 'ramp-ends' }, [el('span', {}, formatValue(mode.min, unit)), el('span', {}, formatValue(mode.max, unit))]),
    );
    this.select.value = `${mode.domain}.${mode.field}`;
  }
}
