import pathlib
import sys, warnings, torch, torchvision
ROOT = pathlib.Path(__file__).resolve().parents[3]  # the repository
sys.path.insert(0, str(ROOT / "tools"))
import export_pytorch as ep
warnings.simplefilter("ignore")
for name, size in [("alexnet", 64), ("vgg11_bn", 32), ("resnet18", 32), ("wide_resnet50_2", 32), ("densenet121", 32), ("squeezenet1_1", 64), ("googlenet", 64), ("inception_v3", 96), ("mnasnet0_5", 32), ("mobilenet_v2", 32), ("mobilenet_v3_small", 32), ("shufflenet_v2_x0_5", 32), ("efficientnet_b0", 32), ("efficientnet_v2_s", 32), ("regnet_x_400mf", 32), ("regnet_y_400mf", 32), ("resnext50_32x4d", 32), ("convnext_tiny", 32), ("vit_b_16", 224), ("swin_t", 64), ("maxvit_t", 224)]:
    try:
        kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
        m = getattr(torchvision.models, name)(num_classes=10, **kwargs).eval()
        ep.architecture(m, (3, size, size))
        print(f"{name}: exported", flush=True)
    except ep.Unsupported as e:
        print(f"{name}: refused: {str(e)[:200]}", flush=True)
    except Exception as e:
        print(f"{name}: ERROR {type(e).__name__}: {str(e)[:200]}", flush=True)
