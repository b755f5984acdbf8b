"""Course exercise 2 as PyTorch code: a small CNN (two 5x5 convolutions, three fully
connected layers) trained on CIFAR-10 with SGD, saved, reloaded and scored per class.

    python cifar10_classifier.py [--epochs 2] [--batch-size 4] [--lr 0.001]

Expects torchvision's CIFAR-10 folder under ./data (download=True fetches it if absent).
"""
import argparse

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.optim as optim
import torchvision
import torchvision.transforms as transforms

CLASSES = ("plane", "car", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 6, 5), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, len(CLASSES))

    def forward(self, x):
        x = torch.flatten(self.features(x), 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


def loaders(batch_size):
    normalize = transforms.Compose([transforms.ToTensor(),
                                    transforms.Normalize((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))])
    train_set = torchvision.datasets.CIFAR10(root="./data", train=True, download=True, transform=normalize)
    test_set = torchvision.datasets.CIFAR10(root="./data", train=False, download=True, transform=normalize)
    train = torch.utils.data.DataLoader(train_set, batch_size=batch_size, shuffle=True, num_workers=2)
    test = torch.utils.data.DataLoader(test_set, batch_size=batch_size, shuffle=False, num_workers=2)
    return train, test


def train(net, loader, epochs, lr, device):
    criterion = nn.CrossEntropyLoss()
    optimizer = optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    for epoch in range(epochs):
        running_loss = 0.0
        for i, (inputs, labels) in enumerate(loader, 1):
            inputs, labels = inputs.to(device), labels.to(device)
            optimizer.zero_grad()
            loss = criterion(net(inputs), labels)
            loss.backward()
            optimizer.step()
            running_loss += loss.item()
            if i % 50 == 0:
                print(f"epoch {epoch + 1}, batch {i:4d}: mean loss {running_loss / 50:.3f}")
                running_loss = 0.0
    print("training done")


def score(net, loader, device):
    correct, total = 0, 0
    hits, seen = [0] * len(CLASSES), [0] * len(CLASSES)
    net.eval()
    with torch.no_grad():
        for images, labels in loader:
            images, labels = images.to(device), labels.to(device)
            _, predicted = torch.max(net(images), 1)
            total += labels.size(0)
            correct += (predicted == labels).sum().item()
            for label, guess in zip(labels, predicted):
                seen[label] += 1
                hits[label] += int(label == guess)
    print(f"test accuracy: {100 * correct / total:.1f} % of {total} images")
    for name, h, n in zip(CLASSES, hits, seen):
        print(f"  {name:5s} {100 * h / max(n, 1):5.1f} %")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--lr", type=float, default=0.001)
    args = parser.parse_args()
    torch.manual_seed(0)
    device = torch.device("cuda:0" if torch.cuda.is_available() else "cpu")
    train_loader, test_loader = loaders(args.batch_size)

    images, labels = next(iter(train_loader))
    grid = torchvision.utils.make_grid(images)
    print("a training batch:", " ".join(CLASSES[label] for label in labels), "| grid", tuple(grid.shape))

    net = SmallCNN().to(device)
    train(net, train_loader, args.epochs, args.lr, device)
    torch.save(net.state_dict(), "cifar_net.pth")

    net = SmallCNN().to(device)
    net.load_state_dict(torch.load("cifar_net.pth", weights_only=True))
    score(net, test_loader, device)
    print(device)


if __name__ == "__main__":
    main()
