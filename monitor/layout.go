package monitor

import (
	"fmt"
	"strconv"

	rt "github.com/infergate/infergate/runtime"
)

// How a tensor becomes features. The layout is fixed per version at
// AddModel, from the tensor shapes the model declares, so the aggregator
// never inspects names or allocates per sample.
const (
	// foldColumns: [N, F] is N rows of F features; [N] is N rows of one.
	foldColumns = iota
	// foldChannels: rank >= 3 ([N, C, H, W], [N, C, T]) is N rows, and
	// each channel (dimension 1) gives four features: the mean, standard
	// deviation, minimum and maximum of its elements. Sketching every
	// pixel would measure nothing a drift alarm can act on; per-channel
	// moments catch the usual image drifts (brightness, contrast,
	// saturated or dead sensors).
	foldChannels
	// foldClasses: a classifier's [N, K] scores: one feature per class
	// score and a categorical feature for the predicted class (argmax).
	foldClasses
)

// channelStats are the features foldChannels makes per channel.
var channelStats = [...]string{"mean", "std", "min", "max"}

// fold maps one tap tensor to a version's features.
type fold struct {
	spec   int // index into Tap.specs and a slot's tensor descriptors
	kind   int
	output bool
	first  int // first feature index
	width  int // columns, channels or classes
	cat    int // categorical index (foldClasses), else -1
}

// prediction kinds: what a sampled request's prediction is, for joining
// labels.
const (
	predNone   = iota
	predArgmax // classification with class scores: argmax of row 0
	predValue  // a single value: row 0 (rounded, for classification)
)

// dynamicDim stands for a dynamic dimension other than the batch (a
// sequence length) when sizing a slot.
const dynamicDim = 64

// regionBytes is the slot space a tensor gets: rows rows of a dynamic
// batch dimension (Config.SlotRows), dynamicDim for any other dynamic
// dimension. A larger sample is dropped, counted too_large, rather than
// every slot being sized for the largest possible batch.
func regionBytes(t rt.TensorInfo, rows int) int {
	if len(t.Shape) == 0 {
		return t.DataType.Size()
	}
	row := 1
	for _, d := range t.Shape[1:] {
		if d > 0 {
			row *= int(d)
		} else {
			row *= dynamicDim
		}
	}
	if d := int(t.Shape[0]); d > 0 {
		rows = d
	}
	return rows * row * t.DataType.Size()
}

// monitored reports whether the monitor follows a tensor: numbers only.
func monitored(t rt.TensorInfo) bool { return t.DataType.Size() > 0 }

// guessTask decides classification or regression from the first numeric
// output when the config leaves it out.
func guessTask(outputs []rt.TensorInfo) string {
	for _, o := range outputs {
		if !monitored(o) {
			continue
		}
		if len(o.Shape) == 2 && o.Shape[1] >= 2 {
			return TaskClassification
		}
		return TaskRegression
	}
	return TaskRegression
}

// layout builds a version's folds and features from its tensors. specIndex
// finds a tensor's tap spec by name and role.
func (v *version) layout(spec VersionSpec, task string, specIndex func(name string, output bool) int) []string {
	var warnings []string
	add := func(t rt.TensorInfo, output bool) {
		if !monitored(t) {
			return
		}
		f := fold{spec: specIndex(t.Name, output), output: output, first: len(v.features), cat: -1}
		rank := len(t.Shape)
		switch {
		case rank <= 1:
			f.kind, f.width = foldColumns, 1
		case rank == 2 && t.Shape[1] <= 0:
			warnings = append(warnings, fmt.Sprintf("%s %q has a dynamic feature dimension %v; it is not monitored", role(output), t.Name, t.Shape))
			return
		case rank == 2 && output && task == TaskClassification && t.Shape[1] >= 2:
			f.kind, f.width = foldClasses, int(t.Shape[1])
		case rank == 2:
			f.kind, f.width = foldColumns, int(t.Shape[1])
		case rank > maxRank || t.Shape[1] <= 0:
			warnings = append(warnings, fmt.Sprintf("%s %q of shape %v is not monitored: per-channel statistics need a fixed dimension 1 and rank <= %d", role(output), t.Name, t.Shape, maxRank))
			return
		default:
			f.kind, f.width = foldChannels, int(t.Shape[1])
		}
		switch f.kind {
		case foldColumns, foldClasses:
			for j := range f.width {
				name := t.Name
				if f.width > 1 || rank == 2 {
					name += "[" + strconv.Itoa(j) + "]"
				}
				v.features = append(v.features, newFeature(v.grid, name, output))
			}
		case foldChannels:
			for c := range f.width {
				for _, s := range channelStats {
					v.features = append(v.features, newFeature(v.grid, t.Name+"["+strconv.Itoa(c)+"]."+s, output))
				}
			}
		}
		if f.kind == foldClasses {
			f.cat = len(v.cats)
			v.cats = append(v.cats, newCategorical(t.Name+".class", f.width))
		}
		if output && v.pred == predNone {
			switch {
			case f.kind == foldClasses:
				v.pred, v.predFold = predArgmax, len(v.folds)
			case f.kind == foldColumns && f.width == 1:
				v.pred, v.predFold = predValue, len(v.folds)
			}
		}
		if !output && f.kind == foldColumns {
			for j := range f.width {
				v.tabular = append(v.tabular, f.first+j)
			}
			v.tabularTensors = append(v.tabularTensors, tabularTensor{t.Name, f.width})
		}
		v.folds = append(v.folds, f)
		var st stage
		if f.kind != foldChannels {
			st = newStage(f.width)
		}
		v.stages = append(v.stages, st)
	}
	for _, t := range spec.Inputs {
		add(t, false)
	}
	for _, t := range spec.Outputs {
		add(t, true)
	}
	return warnings
}

func role(output bool) string {
	if output {
		return "output"
	}
	return "input"
}
