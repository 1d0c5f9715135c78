"""Using a trained model: batch scoring, the HTTP service, ONNX export and the model card."""
