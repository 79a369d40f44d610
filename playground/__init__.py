"""RNN Playground engine: data, models, training and probes. No streamlit here except playground.ui."""
