namespace Rempart.Pop3;
