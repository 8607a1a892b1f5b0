package bench

import (
	"fmt"
	"io"
	"os"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"
)

// Plot draws the curve as four panels against the fleet size, as SVG (PNG
// if path ends in .png): the
// ratio to the floor, the manager's bytes per SIM, kube-apiserver's CPU per
// SIM, and API calls and writes per SIM. Flat lines are the claim.
func (r *CurveResults) Plot(path string) error {
	series := func(y func(CurvePoint) float64) plotter.XYs {
		xys := make(plotter.XYs, len(r.Points))
		for i, p := range r.Points {
			xys[i] = plotter.XY{X: float64(p.SIMs), Y: y(p)}
		}
		return xys
	}
	type line struct {
		name string
		y    func(CurvePoint) float64
	}
	panel := func(title, unit string, lines ...line) (*plot.Plot, error) {
		p := plot.New()
		p.Title.Text = title
		p.X.Label.Text = "SIMs"
		p.Y.Label.Text = unit
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
		p.Y.Min = 0
		p.Add(plotter.NewGrid())
		for i, l := range lines {
			lp, pts, err := plotter.NewLinePoints(series(l.y))
			if err != nil {
				return nil, err
			}
			lp.Color, pts.Color = plotutil.Color(i), plotutil.Color(i)
			p.Add(lp, pts)
			if len(lines) > 1 {
				p.Legend.Add(l.name, lp, pts)
			}
		}
		if len(lines) > 1 {
			p.Legend.Top = true
			p.Y.Max *= 1.35 // room for the legend above the lines
		}
		return p, nil
	}
	specs := []struct {
		title, unit string
		lines       []line
	}{
		{"time to all Ready ÷ the floor", "×", []line{{"", func(p CurvePoint) float64 { return p.VsFloor }}}},
		{"manager peak RSS above its base, per SIM", "KiB", []line{{"", func(p CurvePoint) float64 { return p.BytesPerSIM / 1024 }}}},
		{"CPU per SIM while creating", "ms", []line{
			{"kube-apiserver", func(p CurvePoint) float64 { return p.ApiserverCPUmsPerSIM }},
			{"manager", func(p CurvePoint) float64 { return p.ManagerCPUmsPerSIM }}}},
		{"cost per SIM while creating", "per SIM", []line{
			{"API calls", func(p CurvePoint) float64 { return p.APICalls }},
			{"apiserver writes", func(p CurvePoint) float64 { return p.Writes }}}},
	}
	plots := [][]*plot.Plot{make([]*plot.Plot, 2), make([]*plot.Plot, 2)}
	for i, s := range specs {
		p, err := panel(s.title, s.unit, s.lines...)
		if err != nil {
			return err
		}
		plots[i/2][i%2] = p
	}
	w, h := 9*vg.Inch, 6.5*vg.Inch
	var img interface {
		vg.CanvasSizer
		io.WriterTo
	} = vgsvg.New(w, h)
	if strings.HasSuffix(path, ".png") {
		img = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(w, h), vgimg.UseDPI(96))}
	}
	dc := draw.New(img)
	canvases := plot.Align(plots, draw.Tiles{Rows: 2, Cols: 2, PadX: vg.Inch / 4, PadY: vg.Inch / 4,
		PadTop: vg.Inch / 8, PadBottom: vg.Inch / 8, PadLeft: vg.Inch / 8, PadRight: vg.Inch / 8}, dc)
	for j := range plots {
		for i := range plots[j] {
			plots[j][i].Draw(canvases[j][i])
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := img.WriteTo(f); err != nil {
		_ = f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return f.Close()
}
