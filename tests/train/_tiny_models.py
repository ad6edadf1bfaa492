"""Tiny versions of every registered model: (model kwargs, example input shape), built in milliseconds."""

TINY = {
    "lenet5": ({"image_size": 8}, (2, 1, 8, 8)),
    "resnet18": ({"stem": "small", "width": 0.125, "num_classes": 10}, (2, 3, 16, 16)),
    "mobilenetv2": ({"width_mult": 0.25, "small_input": True, "num_classes": 10}, (2, 3, 16, 16)),
    "pointnet2": ({"num_classes": 12, "width": 0.25, "npoint": [32, 8], "nsample": [8, 8]}, (2, 3, 128)),
    "vit": ({"image_size": 8, "attention": "matmul"}, (2, 1, 8, 8)),
}
