"""Using trained models: upscaling images (tiled), and exporting networks."""
