// A sparkline of recent values on a canvas: a fixed-size ring buffer, drawn in place.
export class Sparkline {
  constructor(size = 180) {
    this.values = new Float64Array(size);
    this.length = 0;
    this.next = 0;
    this.canvas = document.createElement('canvas');
    this.canvas.className = 'sparkline';
    this.canvas.width = 160;
    this.canvas.height = 36;
  }

  push(value) {
    this.values[this.next] = Number(value);
    this.next = (this.next + 1) % this.values.length;
    this.length = Math.min(this.length + 1, this.values.length);
  }

  draw(colour = '#7fd3ff') {
    const ctx = this.canvas.getContext('2d');
    const { width, height } = this.canvas;
    ctx.clearRect(0, 0, width, height);
    if (this.length < 2) return;
    let lo = Infinity;
    let hi = -Infinity;
    const start = (this.next - this.length + this.values.length) % this.values.length;
    for (let i = 0; i < this.length; i++) {
      const v = this.values[(start + i) % this.values.length];
      if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
    }
    if (!Number.isFinite(lo)) return;
    const span = hi > lo ? hi - lo : 1;
    ctx.strokeStyle = colour;
    ctx.lineWidth = 2;
    ctx.beginPath();
    for (let i = 0; i < this.length; i++) {
      const v = this.values[(start + i) % this.values.length];
      const x = (i / (this.values.length - 1)) * (width - 2) + 1;
      const y = height - 3 - ((v - lo) / span) * (height - 6);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    }
    ctx.stroke();
  }
}
