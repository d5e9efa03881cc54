package main

import (
	"image/color"
	"math"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// targetStyle is how each target is drawn: colour and glyph.
var targetStyle = map[string]struct {
	color color.Color
	shape draw.GlyphDrawer
	label string
}{
	targetDirect:             {color.RGBA{R: 110, G: 110, B: 110, A: 255}, draw.CircleGlyph{}, "direct"},
	targetPgBouncer:          {color.RGBA{R: 31, G: 119, B: 180, A: 255}, draw.BoxGlyph{}, "PgBouncer"},
	targetPgpooler:           {color.RGBA{R: 214, G: 39, B: 40, A: 255}, draw.PyramidGlyph{}, "pgpooler"},
	targetPgpoolerGoroutines: {color.RGBA{R: 44, G: 160, B: 44, A: 255}, diamondGlyph{}, "pgpooler-goroutines"},
}

// targetLabel is target's name in the tables' headers and the plot's legend.
func targetLabel(target string) string { return targetStyle[target].label }

// diamondGlyph draws a filled square standing on one corner (gonum's draw has none).
type diamondGlyph struct{}

// DrawGlyph implements draw.GlyphDrawer.
func (diamondGlyph) DrawGlyph(c *draw.Canvas, sty draw.GlyphStyle, pt vg.Point) {
	r := sty.Radius * 1.2
	var p vg.Path
	p.Move(vg.Point{X: pt.X, Y: pt.Y + r})
	p.Line(vg.Point{X: pt.X + r, Y: pt.Y})
	p.Line(vg.Point{X: pt.X, Y: pt.Y - r})
	p.Line(vg.Point{X: pt.X - r, Y: pt.Y})
	p.Close()
	c.Fill(p)
}

// plot draws two panels, one above the other, with the scenarios along x: TPS of every target, and
// the CPU µs per transaction of the pooler targets. Both y axes are logarithmic, since the scenarios'
// values span two orders of magnitude (TPC-B and -C against -S).
func (s *suite) plot(path string) error {
	var labels []string
	for _, sc := range s.cfg.scenarios {
		labels = append(labels, sc.name)
	}
	tps := s.panel("Transactions per second (median)", "TPS", labels, targetNames,
		func(m summary) float64 { return m.tps })
	cpu := s.panel("Pooler CPU per transaction (median)", "µs per transaction", labels,
		poolerTargets, func(m summary) float64 { return m.cpuPerTxUs })
	const width, height = 22 * vg.Centimeter, 24 * vg.Centimeter
	img := vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(110))
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4, PadY: vg.Millimeter * 6}
	canvases := plot.Align([][]*plot.Plot{{tps}, {cpu}}, tiles, dc)
	tps.Draw(canvases[0][0])
	cpu.Draw(canvases[1][0])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// panel is one log-scale scatter of value by scenario, one series per target, the series side by side
// within each scenario's slot.
func (s *suite) panel(title, ylabel string, labels, targets []string, value func(summary) float64) *plot.Plot {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	p.Legend.Top = true
	p.Add(plotter.NewGrid())
	lo, hi := math.Inf(1), math.Inf(-1)
	for ti, t := range targets {
		var pts plotter.XYs
		for i, sc := range s.cfg.scenarios {
			m, ok := s.summaryOf(sc.name, t)
			if v := value(m); ok && v > 0 && !math.IsNaN(v) {
				x := float64(i) + 0.22*(float64(ti)-float64(len(targets)-1)/2)
				pts = append(pts, plotter.XY{X: x, Y: v})
				lo, hi = math.Min(lo, v), math.Max(hi, v)
			}
		}
		if len(pts) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(pts)
		if err != nil {
			continue
		}
		st := targetStyle[t]
		sc.GlyphStyle = draw.GlyphStyle{Color: st.color, Radius: vg.Points(4), Shape: st.shape}
		p.Add(sc)
		p.Legend.Add(st.label, sc)
	}
	if lo > hi { // nothing to draw: any positive range keeps the log scale valid
		lo, hi = 1, 10
	}
	p.Y.Min, p.Y.Max = lo/1.6, hi*1.6
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.6, float64(len(labels))-0.4
	p.X.Tick.Label.Rotation = 0.5
	p.X.Tick.Label.XAlign = draw.XRight
	return p
}
