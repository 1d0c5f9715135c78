"""After deployment: the drift report, simulated batches and retraining on a labelled batch."""
