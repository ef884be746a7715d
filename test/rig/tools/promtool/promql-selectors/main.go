// promql-selectors: Prometheus' own PromQL parser (the promtool build's module and version)
// behind a JSON pipe. Reads a JSON array of expressions on stdin and writes, per expression,
// every vector selector (metric name and label matchers) and every label list that groups or
// matches series (by/without, on/ignoring, group_left/right) with the metric names beneath it.
// The chart's series test (test/integration/chart/series.test.ts) checks these against a
// running daemon's /metrics.
package main

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/prometheus/prometheus/promql/parser"
)

type matcher struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Value string `json:"value"`
}

type selector struct {
	Metric   string    `json:"metric"`
	Matchers []matcher `json:"matchers"`
}

// The labels an expression's result can carry: those of the metrics' series (as scraped) plus
// fixed ones (what an aggregation kept). `sum by (a) (x)` carries only a, whatever x has.
type available struct {
	Fixed   []string `json:"fixed"`
	Metrics []string `json:"metrics"`
}

func (a available) union(b available) available {
	return available{Fixed: append(append([]string{}, a.Fixed...), b.Fixed...), Metrics: append(append([]string{}, a.Metrics...), b.Metrics...)}
}

type labelUse struct {
	// "by", "without", "on", "ignoring", "group"
	Kind   string   `json:"kind"`
	Labels []string `json:"labels"`
	// What the operand the labels apply to carries (one side of a binary operation).
	Within available `json:"within"`
}

type result struct {
	Error     string     `json:"error,omitempty"`
	Selectors []selector `json:"selectors"`
	Labels    []labelUse `json:"labels"`
}

// promtool's defaults: no experimental syntax, so what parses here parses in `promtool check rules`.
var promql = parser.NewParser(parser.Options{})

var none = available{Fixed: []string{}, Metrics: []string{}}

// labelsOf follows PromQL's rules for the labels of a result (promql/engine.go): aggregations
// keep their by-labels (topk and friends keep the series'), one-to-one arithmetic and bool
// comparisons with on(...) keep only the matching labels, filters and set operations keep the
// left side's, `or` either side's, functions their vector argument's.
func labelsOf(e parser.Expr) available {
	switch n := e.(type) {
	case *parser.VectorSelector:
		return available{Fixed: []string{}, Metrics: []string{n.Name}}
	case *parser.MatrixSelector:
		return labelsOf(n.VectorSelector)
	case *parser.SubqueryExpr:
		return labelsOf(n.Expr)
	case *parser.ParenExpr:
		return labelsOf(n.Expr)
	case *parser.UnaryExpr:
		return labelsOf(n.Expr)
	case *parser.StepInvariantExpr:
		return labelsOf(n.Expr)
	case *parser.AggregateExpr:
		switch n.Op {
		case parser.TOPK, parser.BOTTOMK, parser.LIMITK, parser.LIMIT_RATIO:
			return labelsOf(n.Expr)
		}
		if n.Without {
			return labelsOf(n.Expr)
		}
		return available{Fixed: n.Grouping, Metrics: []string{}}
	case *parser.Call:
		for _, arg := range n.Args {
			if t := arg.Type(); t == parser.ValueTypeVector || t == parser.ValueTypeMatrix {
				return labelsOf(arg)
			}
		}
		return none
	case *parser.BinaryExpr:
		lt, rt := n.LHS.Type(), n.RHS.Type()
		if lt == parser.ValueTypeScalar && rt == parser.ValueTypeScalar {
			return none
		}
		if lt == parser.ValueTypeScalar {
			return labelsOf(n.RHS)
		}
		if rt == parser.ValueTypeScalar {
			return labelsOf(n.LHS)
		}
		if n.Op == parser.LOR {
			return labelsOf(n.LHS).union(labelsOf(n.RHS))
		}
		vm := n.VectorMatching
		filter := n.Op.IsComparisonOperator() && !n.ReturnBool
		if !n.Op.IsSetOperator() && !filter && vm != nil && vm.Card == parser.CardOneToOne && vm.On {
			return available{Fixed: vm.MatchingLabels, Metrics: []string{}}
		}
		if vm != nil && vm.Card == parser.CardOneToMany {
			return labelsOf(n.RHS)
		}
		return labelsOf(n.LHS)
	}
	return none
}

func analyse(text string) result {
	r := result{Selectors: []selector{}, Labels: []labelUse{}}
	expr, err := promql.ParseExpr(text)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			s := selector{Metric: n.Name, Matchers: []matcher{}}
			for _, m := range n.LabelMatchers {
				if m.Name == "__name__" {
					continue
				}
				s.Matchers = append(s.Matchers, matcher{Name: m.Name, Type: m.Type.String(), Value: m.Value})
			}
			r.Selectors = append(r.Selectors, s)
		case *parser.AggregateExpr:
			if len(n.Grouping) > 0 {
				kind := "by"
				if n.Without {
					kind = "without"
				}
				r.Labels = append(r.Labels, labelUse{Kind: kind, Labels: n.Grouping, Within: labelsOf(n.Expr)})
			}
		case *parser.BinaryExpr:
			vm := n.VectorMatching
			if vm == nil {
				break
			}
			kind := "ignoring"
			if vm.On {
				kind = "on"
			}
			for _, side := range []parser.Expr{n.LHS, n.RHS} {
				if len(vm.MatchingLabels) > 0 {
					r.Labels = append(r.Labels, labelUse{Kind: kind, Labels: vm.MatchingLabels, Within: labelsOf(side)})
				}
			}
			if len(vm.Include) > 0 {
				// group_left/right labels come from the "one" side.
				one := n.RHS
				if vm.Card == parser.CardOneToMany {
					one = n.LHS
				}
				r.Labels = append(r.Labels, labelUse{Kind: "group", Labels: vm.Include, Within: labelsOf(one)})
			}
		}
		return nil
	})
	return r
}

func main() {
	var exprs []string
	if err := json.NewDecoder(os.Stdin).Decode(&exprs); err != nil {
		fmt.Fprintf(os.Stderr, "promql-selectors: stdin must be a JSON array of strings: %v\n", err)
		os.Exit(2)
	}
	out := make([]result, len(exprs))
	for i, e := range exprs {
		out[i] = analyse(e)
	}
	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "promql-selectors: %v\n", err)
		os.Exit(1)
	}
}
