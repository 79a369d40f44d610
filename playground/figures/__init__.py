"""Every figure and HTML builder of the app, in one place: pure functions from data to plotly
figures or HTML strings, no streamlit (tested with plain pytest).

    curves     training curves: loss/perplexity with baselines, gradient norm, anneal markers
    compare    Compare runs: curves of several runs overlaid
    shapes     Shapes: weight gate blocks, tensor layouts, parameter tables' text
    hidden     Hidden states: heatmaps, unit text, gate saturation, parity
    generate   Generate: candidates and the coloured text
    sampler    the samplers drawn (which tokens each minibatch reads, state carried or reset)
    labs       the labs' small charts (curves, bars, x-y)
    memory     the memory-horizon experiment: recall vs gap, gradient reach
"""
